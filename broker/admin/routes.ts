import { Router } from 'express';
import {
  AspectPath,
  AuditQuery,
  EventsQuery,
  MintTokenRequest,
  TokenListQuery,
  TokenPath,
  WireError,
  parseOrThrow,
} from '../../protocol/index.js';
import type { Queryable } from '../db/pool.js';
import { withDatabaseRetry } from '../db/retry.js';
import type { AuditLog } from '../audit/audit-log.js';
import { listAudit } from '../audit/audit-sql.js';
import { listEvents } from '../events/events-sql.js';
import { requireAdmin, type Principal } from '../auth/principal.js';
import { jsonBody, noBody, noQuery } from '../http/body.js';
import { callerOf } from '../http/authenticate.js';
import { listDutyHolders, type Duty } from '../duties/duty-runner.js';
import { markDown, setStayDown } from '../roster/roster-sql.js';
import type { TokenService } from './token-service.js';

export interface AdminRouteDeps {
  db: Queryable;
  tokens: TokenService;
  audit: AuditLog;
  duties: Duty[];
  stayDown(aspect: string): void;
  /** Closes the deregistered aspect's socket on every replica (B.89). */
  deregistered(aspect: string): void;
  /** Ends the queued dispatches that target a stayed-down aspect (B.15); returns how many. */
  abortQueuedDispatches(aspect: string): Promise<number>;
}

/** Admin-only routes: tokens, stay-down, deregistration, audit, events, duties. Non-admin callers are audited. */
export function adminRoutes(deps: AdminRouteDeps): Router {
  const router = Router();
  const admin = (res: Parameters<typeof callerOf>[0], action: string, target: string | null): Principal => {
    const caller = callerOf(res);
    if (!caller.admin) {
      deps.audit.denied(caller, action, target);
      requireAdmin(caller);
    }
    return caller;
  };

  router.post('/v1/admin/tokens', async (req, res) => {
    const caller = admin(res, 'token.mint', null);
    noQuery(req);
    res.status(201).json(await deps.tokens.mint(caller, parseOrThrow(MintTokenRequest, jsonBody(req))));
  });

  router.get('/v1/admin/tokens', async (req, res) => {
    admin(res, 'token.list', null);
    const query = parseOrThrow(TokenListQuery, req.query);
    noBody(req);
    res.json({ tokens: await deps.tokens.list(query) });
  });

  router.delete('/v1/admin/tokens/:id', async (req, res) => {
    const caller = admin(res, 'token.revoke', String(req.params.id));
    const { id } = parseOrThrow(TokenPath, req.params);
    noQuery(req);
    noBody(req);
    await deps.tokens.revoke(caller, id);
    res.status(204).end();
  });

  router.post('/v1/admin/aspects/:name/shutdown', async (req, res) => {
    const caller = admin(res, 'aspect.shutdown', String(req.params.name));
    const { name } = parseOrThrow(AspectPath, req.params);
    noQuery(req);
    noBody(req);
    await withDatabaseRetry(() => setStayDown(deps.db, name, true));
    await deps.audit.allowed(caller, 'aspect.shutdown', name);
    deps.stayDown(name);
    const aborted = await deps.abortQueuedDispatches(name);
    res.json({ name, stay_down: true, aborted });
  });

  router.delete('/v1/admin/aspects/:name/shutdown', async (req, res) => {
    const caller = admin(res, 'aspect.shutdown_clear', String(req.params.name));
    const { name } = parseOrThrow(AspectPath, req.params);
    noQuery(req);
    noBody(req);
    await withDatabaseRetry(() => setStayDown(deps.db, name, false));
    await deps.audit.allowed(caller, 'aspect.shutdown_clear', name);
    res.json({ name, stay_down: false, aborted: 0 });
  });

  router.delete('/v1/admin/aspects/:name', async (req, res) => {
    const caller = admin(res, 'aspect.deregister', String(req.params.name));
    const { name } = parseOrThrow(AspectPath, req.params);
    noQuery(req);
    noBody(req);
    if (!(await withDatabaseRetry(() => markDown(deps.db, name, null)))) {
      throw new WireError('not_found', `aspect ${name} never registered`);
    }
    await deps.audit.allowed(caller, 'aspect.deregister', name);
    deps.deregistered(name);
    res.status(204).end();
  });

  router.get('/v1/audit', async (req, res) => {
    admin(res, 'audit.read', null);
    const query = parseOrThrow(AuditQuery, req.query);
    noBody(req);
    res.json({ entries: await withDatabaseRetry(() => listAudit(deps.db, query)) });
  });

  router.get('/v1/events', async (req, res) => {
    admin(res, 'events.read', null);
    const query = parseOrThrow(EventsQuery, req.query);
    noBody(req);
    res.json({ events: await withDatabaseRetry(() => listEvents(deps.db, query)) });
  });

  router.get('/v1/admin/duties', async (req, res) => {
    admin(res, 'duties.read', null);
    noQuery(req);
    noBody(req);
    res.json({ duties: await withDatabaseRetry(() => listDutyHolders(deps.db, deps.duties)) });
  });

  return router;
}
