import type { Queryable } from '../db/pool.js';
import type { AuditEntry, AuditQuery } from '../../protocol/index.js';

export interface AuditRecord {
  actor: string;
  tokenId: string | null;
  action: string;
  target: string | null;
  outcome: 'allowed' | 'denied';
  details?: Record<string, unknown>;
}

export async function insertAudit(db: Queryable, record: AuditRecord): Promise<void> {
  await db.query(
    `INSERT INTO audit (actor, token_id, action, target, outcome, details) VALUES ($1, $2, $3, $4, $5, $6)`,
    [
      record.actor,
      record.tokenId,
      record.action,
      record.target,
      record.outcome,
      JSON.stringify(record.details ?? {}),
    ],
  );
}

export async function listAudit(db: Queryable, query: AuditQuery): Promise<AuditEntry[]> {
  const result = await db.query<AuditEntry & { at: Date }>(
    `SELECT id::text AS id, at, actor, token_id::text AS token_id, action, target, outcome, details
       FROM audit
      WHERE ($1::bigint IS NULL OR id > $1) AND ($2::bigint IS NULL OR id < $2)
        AND ($3::text IS NULL OR actor = $3) AND ($4::text IS NULL OR action = $4)
      ORDER BY CASE WHEN $5 = 'asc' THEN id END ASC, CASE WHEN $5 = 'desc' THEN id END DESC
      LIMIT $6`,
    [
      query.after ?? null,
      query.before ?? null,
      query.actor ?? null,
      query.action ?? null,
      query.order,
      query.limit,
    ],
  );
  return result.rows.map((r) => ({ ...r, at: r.at.toISOString() }));
}
