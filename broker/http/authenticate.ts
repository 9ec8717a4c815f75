import type { NextFunction, Request, Response } from 'express';
import { WireError } from '../../protocol/index.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { RateLimiter } from '../auth/rate-limiter.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Principal } from '../auth/principal.js';
import type { DatabaseHealth } from '../db/health.js';
import { databaseUnavailable } from '../db/retry.js';

/** The bearer token of a request, or null. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? (match[1] as string) : null;
}

/**
 * Worker claim and lease calls are exempt from rate limits (B.33, B.74), for worker tokens only:
 * any other token calling them is refused and audited, and must not do so without limit.
 */
const RATE_EXEMPT = /^\/v1\/workers\/(claim|complete|dispatches\/[^/]+\/(heartbeat|complete|release))$/;

/**
 * Authenticates every `/v1` call and applies the per-token rate limit. Unknown tokens are
 * rate-limited per client address and audited once a minute per address (B.7).
 */
export function authenticate(deps: {
  authenticator: Authenticator;
  health: DatabaseHealth;
  audit: AuditLog;
  httpRate: RateLimiter;
  unknownRate: RateLimiter;
}) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    if (!deps.health.current.reachable) throw databaseUnavailable();
    const address = req.socket.remoteAddress ?? 'unknown';
    const token = bearerToken(req.headers.authorization);
    let principal: Principal;
    try {
      if (!token) throw new WireError('unauthenticated', 'missing bearer token');
      principal = await deps.authenticator.authenticate(token);
    } catch (err) {
      if (err instanceof WireError && err.code === 'unauthenticated') {
        deps.audit.unknownToken(address);
        const wait = deps.unknownRate.take(address);
        if (wait > 0)
          throw new WireError('rate_limited', 'too many unauthenticated requests', undefined, wait);
      }
      throw err;
    }
    if (!(principal.kind === 'worker' && RATE_EXEMPT.test(req.path))) {
      const wait = deps.httpRate.take(principal.tokenId);
      if (wait > 0)
        throw new WireError('rate_limited', 'rate limit exceeded for this token', undefined, wait);
    }
    res.locals.principal = principal;
    next();
  };
}

/** The authenticated caller of a `/v1` route. */
export function callerOf(res: Response): Principal {
  return res.locals.principal as Principal;
}
