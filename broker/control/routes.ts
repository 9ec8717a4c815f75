import { Router } from 'express';
import {
  ActivateRequest,
  AspectName,
  CompactRequest,
  ControlRequestPath,
  ControlWaitQuery,
  ForkRequest,
  RewindRequest,
  SessionId,
  SummariseBranchRequest,
  TreeQuery,
  parseOrThrow,
  type ControlAction,
} from '../../protocol/index.js';
import type { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.js';
import { requireAdmin, type Principal } from '../auth/principal.js';
import { jsonBody, noBody, noQuery } from '../http/body.js';
import { callerOf } from '../http/authenticate.js';
import type { ControlService } from './control-service.js';

const BODIES: Partial<Record<ControlAction, z.ZodType>> = {
  rewind: RewindRequest,
  compact: CompactRequest,
  'summarise-branch': SummariseBranchRequest,
  activate: ActivateRequest,
};

/** Admin session control, forwarded to the runtime (SPEC section 3, B.12, B.20, B.48). */
export function controlRoutes(deps: { control: ControlService; audit: AuditLog }): Router {
  const router = Router();
  const admin = (res: Parameters<typeof callerOf>[0], action: string, target: string): Principal => {
    const caller = callerOf(res);
    if (!caller.admin) {
      deps.audit.denied(caller, action, target);
      requireAdmin(caller);
    }
    return caller;
  };

  for (const [action, schema] of Object.entries(BODIES) as [ControlAction, z.ZodType][]) {
    router.post(`/v1/aspects/:name/${action}`, async (req, res) => {
      const caller = admin(res, `control.${action}`, String(req.params.name));
      const name = parseOrThrow(AspectName, req.params.name);
      const { wait_s } = parseOrThrow(ControlWaitQuery, req.query);
      const params = parseOrThrow(schema, jsonBody(req));
      const reply = await deps.control.request(caller, name, action, params, wait_s);
      res.status(reply.status).json(reply.body);
    });
  }

  // A fork has a broker half (a reserved thread in thread mode), so it is not a plain forward.
  router.post('/v1/aspects/:name/fork', async (req, res) => {
    const caller = admin(res, 'control.fork', String(req.params.name));
    const name = parseOrThrow(AspectName, req.params.name);
    const { wait_s } = parseOrThrow(ControlWaitQuery, req.query);
    const body = parseOrThrow(ForkRequest, jsonBody(req));
    const reply = await deps.control.fork(caller, name, body, wait_s);
    res.status(reply.status).json(reply.body);
  });

  router.get('/v1/aspects/:name/sessions', async (req, res) => {
    const caller = admin(res, 'control.list_sessions', String(req.params.name));
    const name = parseOrThrow(AspectName, req.params.name);
    const { wait_s } = parseOrThrow(ControlWaitQuery, req.query);
    noBody(req);
    const reply = await deps.control.request(caller, name, 'list_sessions', {}, wait_s);
    res.status(reply.status).json(reply.body);
  });

  router.get('/v1/aspects/:name/sessions/:sid/tree', async (req, res) => {
    const caller = admin(res, 'control.tree', String(req.params.name));
    const name = parseOrThrow(AspectName, req.params.name);
    const sid = parseOrThrow(SessionId, req.params.sid);
    const { wait_s, ...page } = parseOrThrow(TreeQuery, req.query);
    noBody(req);
    const reply = await deps.control.request(caller, name, 'tree', { sid, ...page }, wait_s);
    res.status(reply.status).json(reply.body);
  });

  router.get('/v1/aspects/:name/control/:request_id', async (req, res) => {
    admin(res, 'control.read', String(req.params.name));
    const path = parseOrThrow(ControlRequestPath, req.params);
    noQuery(req);
    noBody(req);
    res.json(await deps.control.state(parseOrThrow(AspectName, path.name), path.request_id));
  });

  return router;
}
