/**
 * Decides who a bearer token belongs to. Lookups are cached per replica, and the cache is trusted
 * only while the revocation watcher has read the recent revocations within `freshMs`: so a token
 * revoked on any replica is refused here within about one poll interval, and when the database is
 * unreachable no token is honoured on a stale authorisation state (SPEC B.39) — callers get 503.
 */
import { WireError } from '../../protocol/index.js';
import type { Logger } from '../../platform/index.js';
import type { Queryable } from '../db/pool.js';
import { withDatabaseRetry } from '../db/retry.js';
import { hashToken, looksLikeToken } from './token-format.js';
import { findTokenByHash, recentlyRevokedTokenIds, touchTokens } from './tokens-sql.js';
import { principalFromToken, type Principal } from './principal.js';

/** How far back each poll re-reads revocations; a gap longer than this empties the cache. */
const REVOCATION_WINDOW_S = 10;
const CACHE_LIMIT = 20_000;

export interface AuthenticatorOptions {
  pollMs: number;
  /** The cache is trusted only this long after the last successful revocation read. */
  freshMs: number;
}

export class Authenticator {
  private readonly cache = new Map<string, Principal>();
  private readonly revoked = new Set<string>();
  private readonly used = new Set<string>();
  private lastSync = 0;
  private pollTimer: NodeJS.Timeout | null = null;
  private touchTimer: NodeJS.Timeout | null = null;
  private readonly revokedListeners: ((tokenId: string) => void)[] = [];

  constructor(
    private readonly db: Queryable,
    private readonly logger: Logger,
    private readonly options: AuthenticatorOptions,
  ) {}

  /** Calls `listener` once for each token id seen revoked (to close its sockets). */
  onRevoked(listener: (tokenId: string) => void): void {
    this.revokedListeners.push(listener);
  }

  /** Resolves a bearer token to its principal, or throws 401 (unknown / revoked) or 503. */
  async authenticate(token: string): Promise<Principal> {
    if (!looksLikeToken(token)) throw unauthenticated();
    const key = hashToken(token);
    const cacheKey = key.toString('base64');
    const fresh = Date.now() - this.lastSync < this.options.freshMs;
    const cached = fresh ? this.cache.get(cacheKey) : undefined;
    if (cached && !this.revoked.has(cached.tokenId)) {
      this.used.add(cached.tokenId);
      return cached;
    }
    const row = await withDatabaseRetry(() => findTokenByHash(this.db, key));
    if (!row || row.revoked_at) throw unauthenticated();
    const principal = principalFromToken(row);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(cacheKey, principal);
    this.used.add(principal.tokenId);
    return principal;
  }

  /** Whether a token id is known to be revoked (for sockets that authenticated earlier). */
  isRevoked(tokenId: string): boolean {
    return this.revoked.has(tokenId);
  }

  /** Applies a revocation at once (from this replica's own revoke call or a NOTIFY). */
  markRevoked(tokenId: string): void {
    if (this.revoked.has(tokenId)) return;
    this.revoked.add(tokenId);
    for (const [key, principal] of this.cache) if (principal.tokenId === tokenId) this.cache.delete(key);
    for (const listener of this.revokedListeners) listener(tokenId);
  }

  start(): void {
    const poll = async () => {
      const startedAt = Date.now();
      try {
        const ids = await recentlyRevokedTokenIds(this.db, REVOCATION_WINDOW_S);
        // After a gap longer than the window, a revocation may have slipped past: forget everything.
        if (startedAt - this.lastSync > (REVOCATION_WINDOW_S - 1) * 1000) this.cache.clear();
        for (const id of ids) this.markRevoked(id);
        this.lastSync = startedAt;
      } catch (err) {
        this.logger.debug({ err }, 'revocation poll failed');
      }
      if (this.pollTimer !== null) this.pollTimer = setTimeout(poll, this.options.pollMs);
    };
    this.pollTimer = setTimeout(poll, 0);
    this.touchTimer = setInterval(() => {
      const ids = [...this.used];
      this.used.clear();
      touchTokens(this.db, ids).catch((err) => this.logger.debug({ err }, 'last_used_at update failed'));
    }, 5000);
  }

  /** Whether the revocation state is recent enough to authorise from memory. */
  get synced(): boolean {
    return Date.now() - this.lastSync < this.options.freshMs;
  }

  stop(): void {
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = null;
    if (this.touchTimer) clearInterval(this.touchTimer);
    this.touchTimer = null;
  }
}

function unauthenticated(): WireError {
  return new WireError('unauthenticated', 'missing, unknown or revoked token');
}
