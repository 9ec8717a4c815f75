import { Router } from 'express';
import {
  AspectPath,
  DeregisterRequest,
  HeartbeatRequest,
  RegisterRequest,
  WireError,
  parseOrThrow,
} from '../../protocol/index.js';
import type { Queryable } from '../db/pool.js';
import { withDatabaseRetry } from '../db/retry.js';
import { jsonBody, noBody, noQuery } from '../http/body.js';
import { callerOf } from '../http/authenticate.js';
import type { RegistrationService } from './registration.js';
import { listRoster } from './roster-sql.js';

/** Register, heartbeat, deregister and the roster (SPEC section 3). */
export function rosterRoutes(deps: { db: Queryable; registration: RegistrationService }): Router {
  const router = Router();

  router.post('/v1/aspects/register', async (req, res) => {
    noQuery(req);
    const body = parseOrThrow(RegisterRequest, jsonBody(req));
    res.json(await deps.registration.register(callerOf(res), body));
  });

  router.post('/v1/aspects/heartbeat', async (req, res) => {
    noQuery(req);
    await deps.registration.heartbeat(callerOf(res), parseOrThrow(HeartbeatRequest, jsonBody(req)));
    res.status(204).end();
  });

  router.post('/v1/aspects/deregister', async (req, res) => {
    noQuery(req);
    await deps.registration.deregister(callerOf(res), parseOrThrow(DeregisterRequest, jsonBody(req)));
    res.status(204).end();
  });

  router.get('/v1/aspects', async (req, res) => {
    noQuery(req);
    noBody(req);
    res.json({ aspects: await withDatabaseRetry(() => listRoster(deps.db)) });
  });

  router.get('/v1/aspects/:name', async (req, res) => {
    const { name } = parseOrThrow(AspectPath, req.params);
    noQuery(req);
    noBody(req);
    const [entry] = await withDatabaseRetry(() => listRoster(deps.db, name));
    if (!entry) throw new WireError('not_found', `aspect ${name} is not in the roster`);
    res.json(entry);
  });

  return router;
}
