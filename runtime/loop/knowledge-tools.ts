/**
 * `knowledge_search` and `knowledge_store` (SPEC section 7, B.26): the runtime's tools over the
 * broker's knowledge store, offered to aspects and, with a worker's lease in every body, to Hands
 * that name them (B.78). When the provider can embed (B.90) the text's embedding goes along, so a
 * broker with pgvector searches hybrid; the tools read the same either way.
 */
import { z } from 'zod';
import {
  KnowledgeContent,
  KnowledgeQueryText,
  KnowledgeTopic,
  MAX_KNOWLEDGE_TOP_K,
  type KnowledgeSearchReply,
  type StoreKnowledgeReply,
} from '../../protocol/index.js';
import type { BrokerPoster } from './broker-retry.js';
import { ToolRegistry, type RuntimeTool } from './tools.js';

/** The lease a Hand worker holds; the broker then acts as the dispatch's target (B.26, B.78). */
export interface WorkerLeaseBody {
  dispatch_id: string;
  worker_id: string;
  attempt: number;
}

/** Turns text into an embedding for hybrid search, or null when it cannot (B.90). */
export type Embedder = (text: string) => Promise<number[] | null>;

export interface KnowledgeToolOptions {
  /** Sent with every call by a Hand worker. */
  lease?: WorkerLeaseBody;
  embed?: Embedder;
}

const KnowledgeSearchInput = z.strictObject({
  query: KnowledgeQueryText.describe(
    'what to look for; words are matched by stem, "a or b" matches either, "-word" excludes, "quoted phrases" match as phrases',
  ),
  top_k: z
    .number()
    .int()
    .min(1)
    .max(MAX_KNOWLEDGE_TOP_K)
    .optional()
    .describe('how many hits at most (default 5)'),
});

const KnowledgeStoreInput = z.strictObject({
  topic: KnowledgeTopic.describe(
    'a short name for the entry; storing the same topic again replaces your entry',
  ),
  content: KnowledgeContent.describe(
    'what to remember, written to be understood later without this conversation',
  ),
  shared: z
    .boolean()
    .optional()
    .describe(
      'true: every aspect may find it; false: only you (default for a new entry; an update keeps it)',
    ),
});

/** The embedding of `text` as body fields, or none when there is no embedder or it fails. */
async function embeddingOf(text: string, embed: Embedder | undefined): Promise<{ embedding?: number[] }> {
  const embedding = embed ? await embed(text) : null;
  return embedding ? { embedding } : {};
}

/** `knowledge_search`: ranked hits among the caller's own entries and every shared one. */
export function knowledgeSearchTool(
  broker: BrokerPoster,
  options: KnowledgeToolOptions = {},
): RuntimeTool<z.infer<typeof KnowledgeSearchInput>> {
  return {
    name: 'knowledge_search',
    description:
      "Search the team's knowledge store: your own entries and the ones others shared. Returns the best matches first, each with its author, topic, content and a score (higher is more relevant).",
    input: KnowledgeSearchInput,
    async run(input, context) {
      const reply = await broker.post<KnowledgeSearchReply>(
        '/v1/knowledge/search',
        {
          q: input.query,
          ...(input.top_k === undefined ? {} : { top_k: input.top_k }),
          ...(await embeddingOf(input.query, options.embed)),
          ...options.lease,
        },
        context.signal,
      );
      return {
        hits: reply.hits.map(({ from_agent, topic, content, score }) => ({
          from_agent,
          topic,
          content,
          score,
        })),
      };
    },
  };
}

/** `knowledge_store`: stores an entry under the caller's name, or replaces its entry of that topic. */
export function knowledgeStoreTool(
  broker: BrokerPoster,
  options: KnowledgeToolOptions = {},
): RuntimeTool<z.infer<typeof KnowledgeStoreInput>> {
  return {
    name: 'knowledge_store',
    description:
      'Store something worth remembering in the knowledge store under a topic. Storing a topic you stored before replaces that entry. Shared entries can be found by every aspect.',
    input: KnowledgeStoreInput,
    async run(input, context) {
      const reply = await broker.post<StoreKnowledgeReply>(
        '/v1/knowledge',
        {
          topic: input.topic,
          content: input.content,
          ...(input.shared === undefined ? {} : { shared: input.shared }),
          ...(await embeddingOf(`${input.topic}\n${input.content}`, options.embed)),
          ...options.lease,
        },
        context.signal,
      );
      return { id: reply.id };
    },
  };
}

/**
 * The tools of one Hand run (B.14, B.78): the knowledge tools the Hand names, each call carrying
 * the worker's lease so the broker acts as the dispatch's target.
 */
export function handToolRegistry(
  names: readonly ('knowledge_search' | 'knowledge_store')[],
  broker: BrokerPoster,
  options: KnowledgeToolOptions & { lease: WorkerLeaseBody },
): ToolRegistry {
  const registry = new ToolRegistry();
  for (const name of names)
    registry.register<unknown>(
      name === 'knowledge_search'
        ? knowledgeSearchTool(broker, options)
        : knowledgeStoreTool(broker, options),
    );
  return registry;
}
