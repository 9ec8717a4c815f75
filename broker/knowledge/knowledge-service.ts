import {
  DEFAULT_KNOWLEDGE_TOP_K,
  WireError,
  type KnowledgeEntry,
  type KnowledgeHit,
  type KnowledgeListQuery,
  type KnowledgeScope,
  type StoreKnowledgeRequest,
} from '../../protocol/index.js';
import type { Logger } from '../../platform/index.js';
import type { Queryable } from '../db/pool.js';
import { withDatabaseRetry } from '../db/retry.js';
import type { Principal } from '../auth/principal.js';
import type { AuditLog } from '../audit/audit-log.js';
import { noDispatchesHeld, type HeldDispatchTarget } from '../credentials/dispatch-lease.js';
import { reciprocalRankFusion } from './fusion.pure.js';
import {
  deleteKnowledge,
  knowledgeByIds,
  listKnowledge,
  rankKnowledgeByEmbedding,
  rankKnowledgeByText,
  searchKnowledgeByText,
  upsertKnowledge,
  vectorExtensionInstalled,
  type KnowledgeReader,
  type ReaderScope,
} from './knowledge-sql.js';

/** A listing page stops once its content passes this many bytes (at least one entry is returned). */
const LIST_PAGE_BYTES = 1024 * 1024;
/** Hybrid search fuses this many candidates of each ranking per hit asked for (at most 200). */
const CANDIDATES_PER_HIT = 4;

/** The lease fields a worker sends with its body (B.26, B.78). */
export interface LeaseFields {
  dispatch_id?: string | undefined;
  worker_id?: string | undefined;
  attempt?: number | undefined;
}

/** A search as either route gives it. */
export interface SearchInput extends LeaseFields {
  q: string;
  top_k?: number | undefined;
  scope?: KnowledgeScope | undefined;
  embedding?: number[] | undefined;
}

export interface KnowledgeServiceDeps {
  db: Queryable;
  audit: AuditLog;
  logger: Logger;
  /** `NEXUS_EMBEDDING_DIM`: the length every embedding must have (B.90). */
  embeddingDim: number;
  /** Which aspect a worker's lease lets it act as (the Hands work supplies it). */
  heldDispatchTarget?: HeldDispatchTarget;
}

/**
 * The knowledge store (SPEC section 9, B.26, B.90). Aspects store under their name, admins under
 * `op:NAME`, a worker holding a dispatch's lease under the dispatch's target. Private entries are
 * visible to their author and admins only; search is full-text, and hybrid (fused with a vector
 * ranking) when pgvector is installed and the search carries an embedding. docs/knowledge.md.
 */
export class KnowledgeService {
  private readonly heldDispatchTarget: HeldDispatchTarget;
  /** Whether pgvector is installed: null until detected (at start, or at the first search). */
  private vector: boolean | null = null;

  constructor(private readonly deps: KnowledgeServiceDeps) {
    this.heldDispatchTarget = deps.heldDispatchTarget ?? noDispatchesHeld;
  }

  /** Detects the `vector` extension; a database that is down is asked again at the first search. */
  async detectVectorExtension(): Promise<boolean | null> {
    try {
      this.vector = await vectorExtensionInstalled(this.deps.db);
      this.deps.logger.info(
        { hybrid: this.vector },
        this.vector
          ? 'pgvector found: knowledge search is hybrid when an embedding is given'
          : 'pgvector not installed: knowledge search is full-text only',
      );
    } catch (err) {
      this.deps.logger.warn({ err }, 'could not detect pgvector yet; will try at the first search');
    }
    return this.vector;
  }

  /** Stores an entry or updates the caller's entry of that topic; `created` tells which. */
  async store(caller: Principal, body: StoreKnowledgeRequest): Promise<{ id: string; created: boolean }> {
    if (body.embedding) this.checkDimension(body.embedding);
    const reader = await this.reader(caller, body, 'knowledge.store');
    try {
      return await withDatabaseRetry(() =>
        upsertKnowledge(this.deps.db, {
          fromAgent: reader.agent,
          topic: body.topic,
          content: body.content,
          shared: body.shared ?? null,
          embedding: body.embedding ?? null,
        }),
      );
    } catch (err) {
      // 54000: the text-search vector of the content would pass Postgres's 1 MB limit.
      if ((err as { code?: string }).code === '54000')
        throw fieldError('content', 'holds too many distinct words to index');
      throw err;
    }
  }

  /** Ranked hits for the caller within `scope` (default: own and shared; everything for admins). */
  async search(caller: Principal, input: SearchInput): Promise<KnowledgeHit[]> {
    if (input.embedding) this.checkDimension(input.embedding);
    const reader = await this.reader(caller, input, 'knowledge.search');
    const scope: ReaderScope = input.scope
      ? { all: false, ...input.scope }
      : { all: caller.kind === 'admin', own: true, shared: true, peers: [] };
    const topK = input.top_k ?? DEFAULT_KNOWLEDGE_TOP_K;
    if (input.embedding && (this.vector ?? (await this.detectVectorExtension())) === true)
      return this.hybridSearch(reader, scope, input.q, input.embedding, topK);
    const rows = await withDatabaseRetry(() =>
      searchKnowledgeByText(this.deps.db, reader, scope, input.q, topK),
    );
    return rows.map((row) => ({ ...row, score: Number(row.score) }));
  }

  private async hybridSearch(
    reader: KnowledgeReader,
    scope: ReaderScope,
    text: string,
    embedding: number[],
    topK: number,
  ): Promise<KnowledgeHit[]> {
    const candidates = Math.min(200, topK * CANDIDATES_PER_HIT);
    const [byText, byVector] = await withDatabaseRetry(() =>
      Promise.all([
        rankKnowledgeByText(this.deps.db, reader, scope, text, candidates),
        rankKnowledgeByEmbedding(this.deps.db, reader, scope, embedding, candidates),
      ]),
    );
    const fused = reciprocalRankFusion([byText, byVector], topK);
    const rows = new Map(
      (
        await withDatabaseRetry(() =>
          knowledgeByIds(
            this.deps.db,
            fused.map((f) => f.id),
          ),
        )
      ).map((r) => [r.id, r]),
    );
    // An entry deleted between the two statements is left out.
    return fused.flatMap(({ id, score }) => {
      const row = rows.get(id);
      return row ? [{ ...row, score }] : [];
    });
  }

  /** Visible entries in id order; a page stops at about 1 MiB of content. */
  async list(caller: Principal, query: KnowledgeListQuery): Promise<KnowledgeEntry[]> {
    const reader = await this.reader(caller, {}, 'knowledge.list');
    const rows = await withDatabaseRetry(() =>
      listKnowledge(this.deps.db, reader, {
        fromAgent: query.from_agent ?? null,
        after: query.after ?? null,
        limit: query.limit,
      }),
    );
    const entries: KnowledgeEntry[] = [];
    let bytes = 0;
    for (const row of rows) {
      if (entries.length > 0 && bytes + Buffer.byteLength(row.content) > LIST_PAGE_BYTES) break;
      bytes += Buffer.byteLength(row.content);
      entries.push({
        ...row,
        created_at: row.created_at.toISOString(),
        updated_at: row.updated_at.toISOString(),
      });
    }
    return entries;
  }

  /** Deletes an entry of the caller's (any entry, for an admin); 404 for anything else. */
  async remove(caller: Principal, id: string): Promise<void> {
    const reader = await this.reader(caller, {}, 'knowledge.delete');
    const outcome = await withDatabaseRetry(() => deleteKnowledge(this.deps.db, reader, id));
    if (!outcome.removed) {
      // Someone else's entry answers like a missing one, so private entries cannot be probed.
      if (outcome.author !== null)
        this.deps.audit.denied(caller, 'knowledge.delete', id, { reason: 'not the author' });
      throw new WireError('not_found', `knowledge entry ${id} does not exist or is not yours to delete`);
    }
    if (caller.admin && outcome.author !== reader.agent)
      await this.deps.audit.allowed(caller, 'knowledge.delete', id, { from_agent: outcome.author });
  }

  private checkDimension(embedding: number[]): void {
    if (embedding.length !== this.deps.embeddingDim)
      throw fieldError(
        'embedding',
        `must have ${this.deps.embeddingDim} numbers (NEXUS_EMBEDDING_DIM), not ${embedding.length}`,
      );
  }

  /**
   * Who the caller reads and writes as: an aspect as itself, an admin as `op:NAME`, a worker as the
   * target of the dispatch whose lease it names (refused, and audited, without one).
   */
  private async reader(caller: Principal, lease: LeaseFields, action: string): Promise<KnowledgeReader> {
    if (caller.kind !== 'worker') {
      if (lease.dispatch_id !== undefined) throw fieldError('dispatch_id', 'is sent by worker tokens only');
      return { agent: caller.address ?? caller.name, admin: caller.admin };
    }
    if (lease.dispatch_id === undefined || lease.worker_id === undefined || lease.attempt === undefined) {
      this.deps.audit.denied(caller, action, null, { reason: 'no dispatch' });
      throw new WireError(
        'forbidden',
        'a worker uses the knowledge store only for a dispatch it holds: send dispatch_id, worker_id and attempt in a POST body',
      );
    }
    const target = await this.heldDispatchTarget({
      tokenId: caller.tokenId,
      workerId: lease.worker_id,
      dispatchId: lease.dispatch_id,
      attempt: lease.attempt,
    });
    if (target === null) {
      this.deps.audit.denied(caller, action, null, {
        reason: 'dispatch not held',
        dispatch_id: lease.dispatch_id,
        worker_id: lease.worker_id,
        attempt: lease.attempt,
      });
      throw new WireError(
        'forbidden',
        `worker ${lease.worker_id} holds no lease on dispatch ${lease.dispatch_id} (attempt ${lease.attempt})`,
      );
    }
    return { agent: target, admin: false };
  }
}

/** `400 invalid_request` naming one field, shaped as validation errors are. */
function fieldError(path: string, message: string): WireError {
  return new WireError('invalid_request', `${path}: ${message}`, { issues: [{ path, message }] });
}
