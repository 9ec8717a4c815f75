import { Router } from 'express';
import {
  KnowledgeListQuery,
  KnowledgePath,
  KnowledgeSearchQuery,
  KnowledgeSearchRequest,
  StoreKnowledgeRequest,
  parseOrThrow,
} from '../../protocol/index.js';
import { callerOf } from '../http/authenticate.js';
import { jsonBody, noBody, noQuery } from '../http/body.js';
import type { KnowledgeService } from './knowledge-service.js';

/**
 * The knowledge routes (SPEC section 3, B.26, B.60): store, search (query and body forms), list
 * and delete. Aspects and admins call them all; a worker stores and searches (POST bodies only)
 * while it holds a dispatch's lease.
 */
export function knowledgeRoutes(deps: { knowledge: KnowledgeService }): Router {
  const router = Router();

  router.post('/v1/knowledge', async (req, res) => {
    noQuery(req);
    const body = parseOrThrow(StoreKnowledgeRequest, jsonBody(req));
    const { id, created } = await deps.knowledge.store(callerOf(res), body);
    res.status(created ? 201 : 200).json({ id });
  });

  router.get('/v1/knowledge/search', async (req, res) => {
    noBody(req);
    const query = parseOrThrow(KnowledgeSearchQuery, req.query);
    res.json({ hits: await deps.knowledge.search(callerOf(res), query) });
  });

  router.post('/v1/knowledge/search', async (req, res) => {
    noQuery(req);
    const body = parseOrThrow(KnowledgeSearchRequest, jsonBody(req));
    res.json({ hits: await deps.knowledge.search(callerOf(res), body) });
  });

  router.get('/v1/knowledge', async (req, res) => {
    noBody(req);
    const query = parseOrThrow(KnowledgeListQuery, req.query);
    res.json({ entries: await deps.knowledge.list(callerOf(res), query) });
  });

  router.delete('/v1/knowledge/:id', async (req, res) => {
    noQuery(req);
    noBody(req);
    const { id } = parseOrThrow(KnowledgePath, req.params);
    await deps.knowledge.remove(callerOf(res), id);
    res.status(204).end();
  });

  return router;
}
