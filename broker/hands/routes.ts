import { Router, type Request, type Response } from 'express';
import {
  BatchCompleteRequest,
  ClaimRequest,
  CompleteRequest,
  DispatchPath,
  DispatchRequest,
  LeaseRequest,
  LimitsRequest,
  QueueQuery,
  WireError,
  parseOrThrow,
} from '../../protocol/index.js';
import type { AuditLog } from '../audit/audit-log.js';
import { requireAdmin } from '../auth/principal.js';
import { callerOf } from '../http/authenticate.js';
import { jsonBody, noBody, noQuery } from '../http/body.js';
import type { HandService } from './hand-service.js';

export interface HandRouteDeps {
  hands: HandService;
  audit: AuditLog;
}

/** Hands routes: dispatch, state, abort, limits and queue; the worker's claim, lease and complete. */
export function handRoutes(deps: HandRouteDeps): Router {
  const router = Router();
  const { hands } = deps;

  const admin = (res: Response, action: string) => {
    const caller = callerOf(res);
    if (!caller.admin) deps.audit.denied(caller, action, null, { reason: 'admin_required' });
    requireAdmin(caller);
    return caller;
  };
  const lease = (req: Request, res: Response) => {
    const { id } = parseOrThrow(DispatchPath, req.params);
    noQuery(req);
    const body = parseOrThrow(LeaseRequest, jsonBody(req));
    return {
      tokenId: callerOf(res).tokenId,
      workerId: body.worker_id,
      dispatchId: id,
      attempt: body.attempt,
    };
  };

  router.post('/v1/hands/dispatch', async (req, res) => {
    noQuery(req);
    const body = parseOrThrow(DispatchRequest, jsonBody(req));
    const { status, reply } = await hands.dispatch(callerOf(res), body);
    res.status(status).json(reply);
  });

  router.get('/v1/hands/dispatches/:id', async (req, res) => {
    const { id } = parseOrThrow(DispatchPath, req.params);
    noQuery(req);
    noBody(req);
    res.json(await hands.read(callerOf(res), id));
  });

  router.post('/v1/hands/dispatches/:id/abort', async (req, res) => {
    const { id } = parseOrThrow(DispatchPath, req.params);
    noQuery(req);
    noBody(req);
    res.json(await hands.abort(callerOf(res), id));
  });

  router.get('/v1/hands/limits', async (req, res) => {
    admin(res, 'hand.limits');
    noQuery(req);
    noBody(req);
    res.json(await hands.limits());
  });

  router.put('/v1/hands/limits', async (req, res) => {
    const caller = admin(res, 'hand.limits');
    noQuery(req);
    res.json(await hands.setLimits(caller, parseOrThrow(LimitsRequest, jsonBody(req))));
  });

  router.get('/v1/hands/queue', async (req, res) => {
    admin(res, 'hand.queue');
    const query = parseOrThrow(QueueQuery, req.query);
    noBody(req);
    res.json(await hands.queue(query.target ?? null, query.limit));
  });

  router.post('/v1/workers/claim', async (req, res) => {
    noQuery(req);
    const body = parseOrThrow(ClaimRequest, jsonBody(req));
    const claimed = await hands.workers.claim(
      callerOf(res),
      body.worker_id,
      body.wait_s,
      body.max ?? 1,
      (abandon) =>
        res.on('close', () => {
          if (!res.writableEnded) abandon();
        }),
    );
    if (res.destroyed) {
      // The worker left while its claim was being made: hand the dispatches straight back.
      for (const d of claimed)
        await hands.workers
          .release(callerOf(res), {
            tokenId: callerOf(res).tokenId,
            workerId: body.worker_id,
            dispatchId: d.id,
            attempt: d.attempt,
          })
          .catch(() => undefined);
      return;
    }
    if (claimed.length === 0) return void res.status(204).end();
    res.json(body.max === undefined ? { dispatch: claimed[0] } : { dispatches: claimed });
  });

  router.post('/v1/workers/dispatches/:id/heartbeat', async (req, res) => {
    res.json(await hands.workers.heartbeat(callerOf(res), lease(req, res)));
  });

  router.post('/v1/workers/dispatches/:id/release', async (req, res) => {
    res.json(await hands.workers.release(callerOf(res), lease(req, res)));
  });

  router.post('/v1/workers/dispatches/:id/complete', async (req, res) => {
    const { id } = parseOrThrow(DispatchPath, req.params);
    noQuery(req);
    const { worker_id: workerId, ...result } = parseOrThrow(CompleteRequest, jsonBody(req));
    const [outcome] = await hands.workers.complete(callerOf(res), workerId, [{ dispatch_id: id, ...result }]);
    if (outcome && 'error' in outcome) throw new WireError('conflict', outcome.error.message);
    res.json({ state: 'done' });
  });

  router.post('/v1/workers/complete', async (req, res) => {
    noQuery(req);
    const body = parseOrThrow(BatchCompleteRequest, jsonBody(req));
    res.json({ results: await hands.workers.complete(callerOf(res), body.worker_id, body.results) });
  });

  return router;
}
