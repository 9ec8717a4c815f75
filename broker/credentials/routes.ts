import { Router, type Response } from 'express';
import {
  CredentialGrantPath,
  CredentialPath,
  FetchCredentialRequest,
  GrantCredentialRequest,
  RevokeGrantQuery,
  StoreCredentialRequest,
  parseOrThrow,
} from '../../protocol/index.js';
import type { AuditLog } from '../audit/audit-log.js';
import { requireAdmin, type Principal } from '../auth/principal.js';
import { callerOf } from '../http/authenticate.js';
import { jsonBody, noBody, noQuery } from '../http/body.js';
import { noSecretKey, type CredentialService } from './credential-service.js';

export interface CredentialRouteDeps {
  credentials: CredentialService;
  audit: AuditLog;
}

/**
 * The credential routes (SPEC section 3, B.28). Store, list, delete, grant and revoke are
 * admin-only (a refusal is audited); fetch is for aspects with a grant and workers holding a
 * dispatch. Without NEXUS_SECRET_KEY every one of them answers 503.
 */
export function credentialRoutes(deps: CredentialRouteDeps): Router {
  const router = Router();

  router.use('/v1/credentials', (_req, _res, next) => {
    if (!deps.credentials.available) throw noSecretKey();
    next();
  });

  /** The caller, if it passes admin checks; otherwise one audit row, then 403 admin_required. */
  const admin = async (res: Response, action: string, target: unknown): Promise<Principal> => {
    const caller = callerOf(res);
    if (!caller.admin) {
      await deps.audit.record({
        actor: caller.actor,
        tokenId: caller.tokenId,
        action,
        target: typeof target === 'string' ? target.slice(0, 253) : null,
        outcome: 'denied',
        details: {},
      });
      requireAdmin(caller);
    }
    return caller;
  };

  router.put('/v1/credentials/:name', async (req, res) => {
    const caller = await admin(res, 'credential.store', req.params.name);
    const { name } = parseOrThrow(CredentialPath, req.params);
    noQuery(req);
    const body = parseOrThrow(StoreCredentialRequest, jsonBody(req));
    const { created, info } = await deps.credentials.store(caller, name, body);
    res.status(created ? 201 : 200).json(info);
  });

  router.get('/v1/credentials', async (req, res) => {
    await admin(res, 'credential.list', null);
    noQuery(req);
    noBody(req);
    res.json({ credentials: await deps.credentials.list() });
  });

  router.delete('/v1/credentials/:name', async (req, res) => {
    const caller = await admin(res, 'credential.delete', req.params.name);
    const { name } = parseOrThrow(CredentialPath, req.params);
    noQuery(req);
    noBody(req);
    await deps.credentials.remove(caller, name);
    res.status(204).end();
  });

  router.post('/v1/credentials/:name/grants', async (req, res) => {
    const caller = await admin(res, 'credential.grant', req.params.name);
    const { name } = parseOrThrow(CredentialPath, req.params);
    noQuery(req);
    const { aspect } = parseOrThrow(GrantCredentialRequest, jsonBody(req));
    await deps.credentials.grant(caller, name, aspect);
    res.status(204).end();
  });

  router.delete('/v1/credentials/:name/grants/:aspect', async (req, res) => {
    const caller = await admin(res, 'credential.revoke_grant', req.params.name);
    const { name, aspect } = parseOrThrow(CredentialGrantPath, req.params);
    const { granted_by } = parseOrThrow(RevokeGrantQuery, req.query);
    noBody(req);
    await deps.credentials.revokeGrant(caller, name, aspect, granted_by);
    res.status(204).end();
  });

  router.post('/v1/credentials/:name/fetch', async (req, res) => {
    const { name } = parseOrThrow(CredentialPath, req.params);
    noQuery(req);
    const body = parseOrThrow(FetchCredentialRequest, jsonBody(req));
    const reply = await deps.credentials.fetch(callerOf(res), name, body);
    res.set('Cache-Control', 'no-store'); // the one reply carrying a value: no cache may keep it
    res.json(reply);
  });

  return router;
}
