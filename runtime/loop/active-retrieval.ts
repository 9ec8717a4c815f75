/**
 * Active retrieval (SPEC section 9, B.18, B.60): on a thread's first batch the runtime searches
 * the knowledge store with the batch's words and, if any hit scores at least
 * `knowledge.min_score`, appends `custom.knowledge {query, hits, thread_id}` before the batch's
 * `turn.user`, so replay shows the hits as a note ahead of the message. A failed search is logged
 * and the turn goes on without the note: retrieval is a help, never a reason to miss a message.
 */
import {
  AspectConfigFields,
  knowledgeScopeText,
  type AspectConfig,
  type KnowledgeSearchReply,
  type Message,
} from '../../protocol/index.js';
import type { Logger } from '../../platform/index.js';
import type { BrokerClient } from '../../client/index.js';
import type { SessionFile } from '../session/session-file.js';
import type { Embedder } from './knowledge-tools.js';
import { opensThread, passingHits, retrievalQuery } from './retrieval.pure.js';

/** Runs before a turn's batch is appended; resolves once a note, if any, is on disk. */
export type BeforeTurn = (session: SessionFile, batch: Message[], signal?: AbortSignal) => Promise<void>;

export interface ActiveRetrievalDeps {
  broker: BrokerClient;
  logger: Logger;
  embed?: Embedder;
}

/** The hook for `config`, or null when `knowledge.active_retrieval` is off. */
export function activeRetrieval(config: AspectConfig, deps: ActiveRetrievalDeps): BeforeTurn | null {
  // The block's defaults come from its schema, so they are written once.
  const settings = config.knowledge ?? AspectConfigFields.shape.knowledge.unwrap().parse({});
  if (!settings.active_retrieval) return null;
  const scope = knowledgeScopeText(settings.scope);
  return async (session, batch, signal) => {
    const threadId = batch[0]?.thread_id;
    if (threadId === undefined || !opensThread(session.entries, threadId)) return;
    const query = retrievalQuery(batch.map((m) => m.content).join('\n'));
    // An empty scope (own and shared off, no peers) asks for nothing.
    if (query === null || scope === '') return;
    let reply: KnowledgeSearchReply;
    try {
      const embedding = deps.embed ? await deps.embed(query) : null;
      reply = await deps.broker.post<KnowledgeSearchReply>(
        '/v1/knowledge/search',
        { q: query, top_k: settings.top_k, scope, ...(embedding ? { embedding } : {}) },
        signal,
      );
    } catch (err) {
      if (signal?.aborted) throw err; // stay-down or SIGTERM: the batch is taken again later
      deps.logger.warn(
        { err: String(err), thread_id: threadId },
        'active retrieval failed; the turn goes on without it',
      );
      return;
    }
    const hits = passingHits(reply.hits, settings.min_score);
    if (hits.length === 0) return;
    await session.append([{ kind: 'custom.knowledge', payload: { query, hits, thread_id: threadId } }]);
  };
}
