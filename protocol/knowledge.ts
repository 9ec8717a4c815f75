import { z } from 'zod';
import { Address, Content, DecimalId, InstanceId } from './names.js';

/**
 * The knowledge store's wire shapes (SPEC section 9, B.26, B.60, B.90; docs/knowledge.md). Entries
 * are unique per `(from_agent, topic)`; search is ranked full-text search filtered by a scope.
 */

/** The most hits one search returns (`top_k`). */
export const MAX_KNOWLEDGE_TOP_K = 50;
/** Hits a search returns when `top_k` is not given. */
export const DEFAULT_KNOWLEDGE_TOP_K = 5;
/** The longest search text, in characters. */
export const MAX_KNOWLEDGE_QUERY_CHARS = 4096;
/** The longest topic, in characters. */
export const MAX_KNOWLEDGE_TOPIC_CHARS = 256;
/** The most numbers an embedding may have (pgvector's limit for an indexable vector is lower). */
export const MAX_EMBEDDING_DIM = 16_000;

/** A topic: the entry's name within its author's entries. */
export const KnowledgeTopic = z
  .string()
  .max(MAX_KNOWLEDGE_TOPIC_CHARS, `must be at most ${MAX_KNOWLEDGE_TOPIC_CHARS} characters`)
  .refine((s) => s.trim() !== '', 'must not be empty or blank');

/** An entry's text: at most 256 KiB of UTF-8, like message content. */
export const KnowledgeContent = Content.refine((s) => s.trim() !== '', 'must not be empty or blank');

/** Search text, read with `websearch_to_tsquery('english', …)`. */
export const KnowledgeQueryText = z
  .string()
  .max(MAX_KNOWLEDGE_QUERY_CHARS, `must be at most ${MAX_KNOWLEDGE_QUERY_CHARS} characters`)
  .refine((s) => s.trim() !== '', 'must not be empty or blank');

/** The magnitudes a Postgres `real` (a 32-bit float) holds; others fail the insert (22003). */
const FLOAT32_MIN = 1.1754943508222875e-38;
const FLOAT32_MAX = 3.4028234663852886e38;
const Float32 = z
  .number()
  .refine(
    (v) => v === 0 || (Math.abs(v) >= FLOAT32_MIN && Math.abs(v) <= FLOAT32_MAX),
    'must be 0 or a 32-bit float (magnitude from about 1.2e-38 to 3.4e38)',
  );

/** An embedding: 32-bit floats; the broker checks the count against `NEXUS_EMBEDDING_DIM`. */
export const Embedding = z
  .array(Float32)
  .min(1, 'must not be empty')
  .max(MAX_EMBEDDING_DIM, `must have at most ${MAX_EMBEDDING_DIM} numbers`);

/** Which entries a search reads: the union of the parts named. */
export interface KnowledgeScope {
  own: boolean;
  shared: boolean;
  /** Names whose shared entries are included (an aspect or `op:NAME`). */
  peers: string[];
}

/**
 * `scope=own,shared,peer:NAME` (B.26): a comma-separated list of `own` (the caller's entries),
 * `shared` (every shared entry) and `peer:NAME` (NAME's shared entries), parsed into a
 * `KnowledgeScope`.
 */
export const KnowledgeScopeText = z
  .string()
  .max(4096, 'must be at most 4096 characters')
  .transform((text, ctx): KnowledgeScope => {
    const scope: KnowledgeScope = { own: false, shared: false, peers: [] };
    const parts = text.split(',');
    if (parts.length > 65) {
      ctx.addIssue({ code: 'custom', message: 'must name at most 64 peers' });
      return z.NEVER;
    }
    for (const part of parts) {
      if (part === 'own') scope.own = true;
      else if (part === 'shared') scope.shared = true;
      else if (part.startsWith('peer:') && Address.safeParse(part.slice(5)).success) {
        if (!scope.peers.includes(part.slice(5))) scope.peers.push(part.slice(5));
      } else {
        ctx.addIssue({
          code: 'custom',
          message: 'must be a comma-separated list of own, shared and peer:NAME',
        });
        return z.NEVER;
      }
    }
    return scope;
  });

/** The scope as its query text: the inverse of `KnowledgeScopeText`. */
export function knowledgeScopeText(scope: KnowledgeScope): string {
  return [
    ...(scope.own ? ['own'] : []),
    ...(scope.shared ? ['shared'] : []),
    ...scope.peers.map((peer) => `peer:${peer}`),
  ].join(',');
}

/** The lease a worker token names to act as a dispatch's target (B.26, B.75, B.78). */
const leaseFields = {
  dispatch_id: DecimalId.optional(),
  worker_id: InstanceId.optional(),
  attempt: z.number().int().min(1).max(1000).optional(),
};

type LeaseBody = {
  dispatch_id?: string | undefined;
  worker_id?: string | undefined;
  attempt?: number | undefined;
};

/** The three lease fields come together or not at all. */
function requireWholeLease(body: LeaseBody, ctx: z.RefinementCtx): void {
  const given = [body.dispatch_id, body.worker_id, body.attempt].some((v) => v !== undefined);
  if (!given) return;
  for (const field of ['dispatch_id', 'worker_id', 'attempt'] as const)
    if (body[field] === undefined)
      ctx.addIssue({
        code: 'custom',
        path: [field],
        message: 'is required with dispatch_id, worker_id and attempt (a worker lease)',
      });
}

/** `POST /v1/knowledge` (B.26): stores an entry, or updates the caller's entry of that topic. */
export const StoreKnowledgeRequest = z
  .strictObject({
    topic: KnowledgeTopic,
    content: KnowledgeContent,
    /** Default: false on a new entry; an update without it keeps the entry's setting. */
    shared: z.boolean().optional(),
    embedding: Embedding.optional(),
    ...leaseFields,
  })
  .superRefine(requireWholeLease);
export type StoreKnowledgeRequest = z.infer<typeof StoreKnowledgeRequest>;

/** `201 {id}` for a new entry, `200 {id}` for an update (B.26). */
export const StoreKnowledgeReply = z.object({ id: DecimalId });
export type StoreKnowledgeReply = z.infer<typeof StoreKnowledgeReply>;

/** `GET /v1/knowledge/search?q=&top_k=&scope=` (B.26). */
export const KnowledgeSearchQuery = z.strictObject({
  q: KnowledgeQueryText,
  top_k: z.coerce.number().int().min(1).max(MAX_KNOWLEDGE_TOP_K).optional(),
  scope: KnowledgeScopeText.optional(),
});
export type KnowledgeSearchQuery = z.infer<typeof KnowledgeSearchQuery>;

/** `POST /v1/knowledge/search` (B.26): the body form of the same search, with an optional embedding. */
export const KnowledgeSearchRequest = z
  .strictObject({
    q: KnowledgeQueryText,
    top_k: z.number().int().min(1).max(MAX_KNOWLEDGE_TOP_K).optional(),
    scope: KnowledgeScopeText.optional(),
    embedding: Embedding.optional(),
    ...leaseFields,
  })
  .superRefine(requireWholeLease);
export type KnowledgeSearchRequest = z.infer<typeof KnowledgeSearchRequest>;

/** One search hit; `score` is in [0, 1), higher is more relevant (docs/knowledge.md). */
export const KnowledgeHit = z.object({
  id: DecimalId,
  from_agent: z.string(),
  topic: z.string(),
  content: z.string(),
  shared: z.boolean(),
  score: z.number(),
});
export type KnowledgeHit = z.infer<typeof KnowledgeHit>;

export const KnowledgeSearchReply = z.object({ hits: z.array(KnowledgeHit) });
export type KnowledgeSearchReply = z.infer<typeof KnowledgeSearchReply>;

/** `GET /v1/knowledge?from_agent=&after=&limit=` (B.60): entries in id order. */
export const KnowledgeListQuery = z.strictObject({
  from_agent: Address.optional(),
  after: DecimalId.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
export type KnowledgeListQuery = z.infer<typeof KnowledgeListQuery>;

export const KnowledgeEntry = z.object({
  id: DecimalId,
  from_agent: z.string(),
  topic: z.string(),
  content: z.string(),
  shared: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type KnowledgeEntry = z.infer<typeof KnowledgeEntry>;

export const KnowledgeListReply = z.object({ entries: z.array(KnowledgeEntry) });
export type KnowledgeListReply = z.infer<typeof KnowledgeListReply>;

/** The path of `DELETE /v1/knowledge/:id`. */
export const KnowledgePath = z.strictObject({ id: DecimalId });
