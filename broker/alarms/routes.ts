import { Router } from 'express';
import { AlarmListQuery, AlarmPath, alarmRequestSchema, parseOrThrow } from '../../protocol/index.js';
import { callerOf } from '../http/authenticate.js';
import { jsonBody, noBody, noQuery } from '../http/body.js';
import type { AlarmService } from './alarm-service.js';

export interface AlarmRouteDeps {
  alarms: AlarmService;
  /** The smallest `every_s` accepted: 10 (B.27), lowered only by tests (NEXUS_ALARM_MIN_EVERY_S). */
  minEveryS: number;
}

/** `POST /v1/alarms`, `GET /v1/alarms`, `DELETE /v1/alarms/:id` (SPEC section 3, B.27). */
export function alarmRoutes(deps: AlarmRouteDeps): Router {
  const router = Router();
  const AlarmBody = alarmRequestSchema(deps.minEveryS);

  router.post('/v1/alarms', async (req, res) => {
    noQuery(req);
    const body = parseOrThrow(AlarmBody, jsonBody(req));
    res.status(201).json(await deps.alarms.create(callerOf(res), body));
  });

  router.get('/v1/alarms', async (req, res) => {
    noBody(req);
    parseOrThrow(AlarmListQuery, req.query);
    res.json({ alarms: await deps.alarms.list(callerOf(res)) });
  });

  router.delete('/v1/alarms/:id', async (req, res) => {
    noQuery(req);
    noBody(req);
    const { id } = parseOrThrow(AlarmPath, req.params);
    await deps.alarms.remove(callerOf(res), id);
    res.status(204).end();
  });

  return router;
}
