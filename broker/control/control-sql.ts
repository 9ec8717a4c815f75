import type { Queryable } from '../db/pool.js';
import type { ControlAction, ControlState } from '../../protocol/index.js';

export interface ControlRow {
  id: string;
  aspect: string;
  action: ControlAction;
  params: unknown;
  state: 'pending' | 'done' | 'failed';
  result: unknown;
  error: { code: string; message: string } | null;
  delivered_at: Date | null;
  /** The audit actor of the admin who asked (a fork's seed is sent in their name). */
  requested_by: string;
}

const COLUMNS = 'id::text AS id, aspect, action, params, state, result, error, delivered_at, requested_by';

/** Records a control request for `aspect`; null (and nothing written) when no such aspect ever registered. */
export async function insertControlRequest(
  db: Queryable,
  r: { aspect: string; action: ControlAction; params: unknown; requestedBy: string },
): Promise<string | null> {
  const result = await db.query<{ id: string }>(
    `INSERT INTO control_requests (aspect, action, params, requested_by)
     SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM aspects WHERE name = $1 AND registered_at IS NOT NULL)
     RETURNING id::text AS id`,
    [r.aspect, r.action, JSON.stringify(r.params), r.requestedBy],
  );
  return result.rows[0]?.id ?? null;
}

export async function readControlRequest(db: Queryable, id: string): Promise<ControlRow | null> {
  const result = await db.query<ControlRow>(`SELECT ${COLUMNS} FROM control_requests WHERE id = $1`, [id]);
  return result.rows[0] ?? null;
}

/** Pending, undelivered requests among `ids` (a replica forwards those whose aspect it holds). */
export async function undeliveredControlRequests(db: Queryable, ids: string[]): Promise<ControlRow[]> {
  const result = await db.query<ControlRow>(
    `SELECT ${COLUMNS} FROM control_requests WHERE id = ANY($1::bigint[]) AND state = 'pending' AND delivered_at IS NULL ORDER BY id`,
    [ids],
  );
  return result.rows;
}

/**
 * Claims delivery of a request; false if another replica delivered it first, or it is no longer
 * pending (failed `not_connected` after the delivery window: its caller was told so, B.12).
 */
export async function markControlDelivered(db: Queryable, id: string): Promise<boolean> {
  const result = await db.query(
    `UPDATE control_requests SET delivered_at = now()
      WHERE id = $1 AND delivered_at IS NULL AND state = 'pending'`,
    [id],
  );
  return (result.rowCount ?? 0) > 0;
}

/** Locks a request still awaiting its outcome from `aspect`, inside a transaction; null if none. */
export async function lockPendingControlRequest(
  db: Queryable,
  id: string,
  aspect: string,
): Promise<ControlRow | null> {
  const result = await db.query<ControlRow>(
    `SELECT ${COLUMNS} FROM control_requests WHERE id = $1 AND aspect = $2 AND state = 'pending' FOR UPDATE`,
    [id, aspect],
  );
  return result.rows[0] ?? null;
}

/** Records the outcome; only the first outcome counts (at most once, B.48). */
export async function finishControlRequest(
  db: Queryable,
  id: string,
  aspect: string,
  outcome: { ok: true; result: unknown } | { ok: false; error: { code: string; message: string } },
): Promise<boolean> {
  const result = await db.query(
    `UPDATE control_requests SET state = $3, result = $4, error = $5, finished_at = now()
      WHERE id = $1 AND aspect = $2 AND state = 'pending'`,
    [
      id,
      aspect,
      outcome.ok ? 'done' : 'failed',
      outcome.ok ? JSON.stringify(outcome.result ?? null) : null,
      outcome.ok ? null : JSON.stringify(outcome.error),
    ],
  );
  return (result.rowCount ?? 0) > 0;
}

/**
 * Fails a request nobody delivered (B.12's `not_connected`); false if a replica delivered it in the
 * meantime, which then stands.
 */
export async function failUndelivered(db: Queryable, id: string, error: { code: string; message: string }) {
  const result = await db.query(
    `UPDATE control_requests SET state = 'failed', error = $2, finished_at = now()
      WHERE id = $1 AND state = 'pending' AND delivered_at IS NULL`,
    [id, JSON.stringify(error)],
  );
  return (result.rowCount ?? 0) > 0;
}

export function toControlState(row: ControlRow): ControlState {
  return {
    request_id: row.id,
    action: row.action,
    state: row.state,
    ...(row.state === 'done' ? { result: row.result } : {}),
    ...(row.error ? { error: row.error } : {}),
  };
}

/** The context mode of an aspect's latest registration; null for an aspect that never registered. */
export async function readContextMode(db: Queryable, aspect: string): Promise<string | null> {
  const result = await db.query<{ mode: string | null }>(
    `SELECT config->>'context_mode' AS mode FROM aspects WHERE name = $1`,
    [aspect],
  );
  return result.rows[0]?.mode ?? null;
}

/** Takes a thread id for a fork (B.20); the thread row is written only when the fork succeeds. */
export async function reserveThreadId(db: Queryable): Promise<string> {
  const result = await db.query<{ id: string }>(`SELECT nextval('thread_ids')::text AS id`);
  return (result.rows[0] as { id: string }).id;
}

/** Creates a forked thread with the participants of its source thread. */
export async function createForkedThread(
  db: Queryable,
  threadId: string,
  sourceThreadId: string,
): Promise<void> {
  await db.query(`INSERT INTO threads (id) VALUES ($1) ON CONFLICT DO NOTHING`, [threadId]);
  await db.query(
    `INSERT INTO thread_participants (thread_id, participant)
     SELECT $1, participant FROM thread_participants WHERE thread_id = $2
     ON CONFLICT DO NOTHING`,
    [threadId, sourceThreadId],
  );
}
