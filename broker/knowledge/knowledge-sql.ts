/**
 * Data access for the knowledge store (migration 0017). Every search and listing applies the same
 * two filters, written once in `FILTER`: what the reader may see (shared entries, its own, or
 * everything for an admin), then the scope it asked for (own, shared, named peers' shared ones).
 */
import type { Queryable } from '../db/pool.js';

/** Who reads: the name entries are stored under (an aspect or `op:NAME`), and whether it is an admin. */
export interface KnowledgeReader {
  agent: string;
  admin: boolean;
}

/** Which visible entries a search reads; `all` (admins by default) is everything visible. */
export interface ReaderScope {
  all: boolean;
  own: boolean;
  shared: boolean;
  peers: string[];
}

export interface KnowledgeHitRow {
  id: string;
  from_agent: string;
  topic: string;
  content: string;
  shared: boolean;
  score: number;
}

export interface KnowledgeEntryRow {
  id: string;
  from_agent: string;
  topic: string;
  content: string;
  shared: boolean;
  created_at: Date;
  updated_at: Date;
}

/** Parameters $1-$6 of every filtered read. */
const FILTER = `($1::boolean OR k.shared OR k.from_agent = $2)
   AND ($3::boolean
        OR ($4::boolean AND k.from_agent = $2)
        OR ($5::boolean AND k.shared)
        OR (k.shared AND k.from_agent = ANY ($6::text[])))`;

function filterParams(reader: KnowledgeReader, scope: ReaderScope): unknown[] {
  return [reader.admin, reader.agent, scope.all, scope.own, scope.shared, scope.peers];
}

const TEXT_QUERY = `websearch_to_tsquery('english', $7)`;

/**
 * Inserts an entry, or updates the author's entry of the same topic in place (same id). An update
 * that does not say `shared` keeps the entry's setting; the embedding always follows the content.
 */
export async function upsertKnowledge(
  db: Queryable,
  entry: {
    fromAgent: string;
    topic: string;
    content: string;
    shared: boolean | null;
    embedding: number[] | null;
  },
): Promise<{ id: string; created: boolean }> {
  const result = await db.query<{ id: string; created: boolean }>(
    `INSERT INTO knowledge AS k (from_agent, topic, content, shared, embedding)
     VALUES ($1, $2, $3, coalesce($4::boolean, false), $5::real[])
     ON CONFLICT (from_agent, topic) DO UPDATE
        SET content = EXCLUDED.content,
            shared = coalesce($4::boolean, k.shared),
            embedding = EXCLUDED.embedding,
            updated_at = now()
     RETURNING k.id::text AS id, (k.xmax = 0) AS created`,
    [entry.fromAgent, entry.topic, entry.content, entry.shared, entry.embedding],
  );
  return result.rows[0] as { id: string; created: boolean };
}

/**
 * The best `limit` entries matching `text`, ranked by `ts_rank_cd` with normalisation 32
 * (rank / (rank + 1), so scores fall in [0, 1), B.18); newer entries first among equals.
 */
export async function searchKnowledgeByText(
  db: Queryable,
  reader: KnowledgeReader,
  scope: ReaderScope,
  text: string,
  limit: number,
): Promise<KnowledgeHitRow[]> {
  const result = await db.query<KnowledgeHitRow>(
    `SELECT k.id::text AS id, k.from_agent, k.topic, k.content, k.shared,
            ts_rank_cd(k.search, q, 32) AS score
       FROM knowledge k, ${TEXT_QUERY} q
      WHERE k.search @@ q AND ${FILTER}
      ORDER BY score DESC, k.id DESC
      LIMIT $8`,
    [...filterParams(reader, scope), text, limit],
  );
  return result.rows;
}

/** The ids of the best `limit` text matches, best first: hybrid search's first ranking. */
export async function rankKnowledgeByText(
  db: Queryable,
  reader: KnowledgeReader,
  scope: ReaderScope,
  text: string,
  limit: number,
): Promise<string[]> {
  const result = await db.query<{ id: string }>(
    `SELECT k.id::text AS id
       FROM knowledge k, ${TEXT_QUERY} q
      WHERE k.search @@ q AND ${FILTER}
      ORDER BY ts_rank_cd(k.search, q, 32) DESC, k.id DESC
      LIMIT $8`,
    [...filterParams(reader, scope), text, limit],
  );
  return result.rows.map((row) => row.id);
}

/**
 * The ids of the `limit` entries whose embeddings are nearest `embedding` by cosine distance,
 * nearest first: hybrid search's second ranking. Runs only where pgvector is installed (the
 * `vector` type exists nowhere else); entries of another dimension are left out.
 */
export async function rankKnowledgeByEmbedding(
  db: Queryable,
  reader: KnowledgeReader,
  scope: ReaderScope,
  embedding: number[],
  limit: number,
): Promise<string[]> {
  const result = await db.query<{ id: string }>(
    `SELECT k.id::text AS id
       FROM knowledge k
      WHERE k.embedding IS NOT NULL AND cardinality(k.embedding) = $8 AND ${FILTER}
      ORDER BY k.embedding::vector <=> $7::vector, k.id DESC
      LIMIT $9`,
    [...filterParams(reader, scope), JSON.stringify(embedding), embedding.length, limit],
  );
  return result.rows.map((row) => row.id);
}

/** The entries with these ids, in no particular order (hybrid search fetches its winners). */
export async function knowledgeByIds(
  db: Queryable,
  ids: string[],
): Promise<Omit<KnowledgeHitRow, 'score'>[]> {
  const result = await db.query<Omit<KnowledgeHitRow, 'score'>>(
    `SELECT k.id::text AS id, k.from_agent, k.topic, k.content, k.shared
       FROM knowledge k WHERE k.id = ANY ($1::bigint[])`,
    [ids],
  );
  return result.rows;
}

/** Visible entries in id order, optionally of one author and after an id (B.60). */
export async function listKnowledge(
  db: Queryable,
  reader: KnowledgeReader,
  query: { fromAgent: string | null; after: string | null; limit: number },
): Promise<KnowledgeEntryRow[]> {
  const result = await db.query<KnowledgeEntryRow>(
    `SELECT k.id::text AS id, k.from_agent, k.topic, k.content, k.shared, k.created_at, k.updated_at
       FROM knowledge k
      WHERE ($1::boolean OR k.shared OR k.from_agent = $2)
        AND ($3::text IS NULL OR k.from_agent = $3)
        AND ($4::bigint IS NULL OR k.id > $4)
      ORDER BY k.id
      LIMIT $5`,
    [reader.admin, reader.agent, query.fromAgent, query.after, query.limit],
  );
  return result.rows;
}

/**
 * Deletes entry `id` if `reader` is its author or an admin. `author` is null when no such entry
 * exists; `removed` is false when it exists but is not the reader's to delete.
 */
export async function deleteKnowledge(
  db: Queryable,
  reader: KnowledgeReader,
  id: string,
): Promise<{ author: string | null; removed: boolean }> {
  const result = await db.query<{ author: string | null; removed: boolean }>(
    `WITH target AS (SELECT id, from_agent FROM knowledge WHERE id = $1),
          removed AS (
            DELETE FROM knowledge k USING target t
             WHERE k.id = t.id AND ($2::boolean OR k.from_agent = $3)
            RETURNING k.id)
     SELECT (SELECT from_agent FROM target) AS author, EXISTS (SELECT 1 FROM removed) AS removed`,
    [id, reader.admin, reader.agent],
  );
  return result.rows[0] ?? { author: null, removed: false };
}

/** Whether the `vector` extension (pgvector) is installed in this database. */
export async function vectorExtensionInstalled(db: Queryable): Promise<boolean> {
  const result = await db.query(`SELECT 1 FROM pg_extension WHERE extname = 'vector'`);
  return (result.rowCount ?? 0) > 0;
}
