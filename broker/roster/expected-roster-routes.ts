import { Router } from 'express';
import { ExpectedRosterRequest, parseOrThrow } from '../../protocol/index.js';
import type { AuditLog } from '../audit/audit-log.js';
import { requireAdmin } from '../auth/principal.js';
import type pg from 'pg';
import { withDatabaseRetry } from '../db/retry.js';
import { callerOf } from '../http/authenticate.js';
import { jsonBody, noQuery } from '../http/body.js';
import { replaceExpectedAspects } from './expected-roster.js';

/** `PUT /v1/admin/expected-roster` (B.24): admin only, audited either way. */
export function expectedRosterRoutes(deps: { db: pg.Pool; audit: AuditLog }): Router {
  const router = Router();

  router.put('/v1/admin/expected-roster', async (req, res) => {
    const caller = callerOf(res);
    if (!caller.admin) {
      deps.audit.denied(caller, 'roster.expect', null, { reason: 'admin_required' });
      requireAdmin(caller);
    }
    noQuery(req);
    const body = parseOrThrow(ExpectedRosterRequest, jsonBody(req));
    const aspects = [...new Set(body.aspects)];
    await withDatabaseRetry(() => replaceExpectedAspects(deps.db, body.source, aspects));
    await deps.audit.allowed(caller, 'roster.expect', body.source, { aspects: aspects.length });
    res.status(204).end();
  });

  return router;
}
