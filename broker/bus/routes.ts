import { Router } from 'express';
import {
  HistoryQuery,
  SendRequest,
  ThreadPath,
  ThreadsQuery,
  WireError,
  parseOrThrow,
} from '../../protocol/index.js';
import type { Queryable } from '../db/pool.js';
import { withDatabaseRetry } from '../db/retry.js';
import type { AuditLog } from '../audit/audit-log.js';
import { jsonBody, noBody, noQuery } from '../http/body.js';
import { callerOf } from '../http/authenticate.js';
import type { MessageService } from './send.js';
import { isParticipant, listThreads, readHistory, threadExists } from './messages-sql.js';

/** Messages and threads: send, history, thread listings (SPEC section 3, B.2). */
export function busRoutes(deps: { db: Queryable; messages: MessageService; audit: AuditLog }): Router {
  const router = Router();

  router.post('/v1/messages', async (req, res) => {
    noQuery(req);
    const body = parseOrThrow(SendRequest, jsonBody(req));
    const outcome = await deps.messages.send(callerOf(res), body);
    res.status(outcome.created ? 201 : 200).json(outcome.reply);
  });

  router.get('/v1/messages', async (req, res) => {
    const caller = callerOf(res);
    const query = parseOrThrow(HistoryQuery, req.query);
    noBody(req);
    if (query.thread_id !== undefined) await requireThreadReader(deps, caller, query.thread_id);
    const messages = await withDatabaseRetry(() =>
      readHistory(deps.db, {
        ...(query.thread_id !== undefined ? { threadId: query.thread_id } : {}),
        ...(query.thread_id === undefined && !caller.admin ? { party: caller.address ?? '' } : {}),
        ...(query.after !== undefined ? { after: query.after } : {}),
        ...(query.before !== undefined ? { before: query.before } : {}),
        limit: query.limit,
        order: query.order,
      }),
    );
    res.json({ messages });
  });

  router.get('/v1/threads', async (req, res) => {
    const caller = callerOf(res);
    const query = parseOrThrow(ThreadsQuery, req.query);
    noBody(req);
    const threads = await withDatabaseRetry(() =>
      listThreads(deps.db, {
        ...(caller.admin ? {} : { participant: caller.address ?? '' }),
        ...(query.after !== undefined ? { after: query.after } : {}),
        ...(query.before !== undefined ? { before: query.before } : {}),
        limit: query.limit,
        order: query.order,
      }),
    );
    res.json({ threads });
  });

  router.get('/v1/threads/:id', async (req, res) => {
    const caller = callerOf(res);
    const { id } = parseOrThrow(ThreadPath, req.params);
    noQuery(req);
    noBody(req);
    await requireThreadReader(deps, caller, id);
    const [thread] = await withDatabaseRetry(() => listThreads(deps.db, { id, limit: 1, order: 'asc' }));
    res.json(thread);
  });

  return router;
}

/** 404 for an unknown thread, 403 (audited) for a caller who is neither participant nor admin. */
async function requireThreadReader(
  deps: { db: Queryable; audit: AuditLog },
  caller: ReturnType<typeof callerOf>,
  threadId: string,
): Promise<void> {
  if (!(await withDatabaseRetry(() => threadExists(deps.db, threadId)))) {
    throw new WireError('not_found', `thread ${threadId} does not exist`);
  }
  if (caller.admin) return;
  if (!(await withDatabaseRetry(() => isParticipant(deps.db, threadId, caller.address ?? '')))) {
    deps.audit.denied(caller, 'thread.read', threadId);
    throw new WireError('forbidden', `not a participant of thread ${threadId}`);
  }
}
