/**
 * Data access for the dispatcher's side of Hands: targets, the queue bound, queueing a dispatch,
 * ending or aborting it, the queue and limits views (schema in migrations 0006 and 0007). The
 * worker's side (claims, leases, completion, the sweep) is in lease-sql.ts.
 */
import type pg from 'pg';
import type { Queryable } from '../db/pool.js';

export type { Queryable };

/** A message the broker wrote, to announce for delivery after commit. */
export interface PostedMessage {
  message_id: string;
  thread_id: string;
  recipients: string[];
  /** The status the dispatch ended with (an abort request turns ok / error / timeout into aborted). */
  status: string;
}

export interface TargetRow {
  config: Record<string, unknown> | null;
  stay_down: boolean;
  registered_at: Date | null;
}

export async function readTarget(db: Queryable, name: string): Promise<TargetRow | null> {
  const { rows } = await db.query<TargetRow>(
    'SELECT config, stay_down, registered_at FROM aspects WHERE name = $1',
    [name],
  );
  return rows[0] ?? null;
}

/**
 * Serialises dispatches to one Hand for the rest of the transaction, so the queue bound holds
 * exactly, then counts what is queued for it (up to `limit`).
 */
export async function lockAndCountQueued(
  client: pg.PoolClient,
  target: string,
  hand: string,
  limit: number,
): Promise<number> {
  await client.query(`SELECT pg_advisory_xact_lock(hashtextextended('nexus.hand:' || $1 || '/' || $2, 0))`, [
    target,
    hand,
  ]);
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(*)::integer AS n FROM (
       SELECT 1 FROM hand_queue WHERE target = $1 AND hand = $2 LIMIT $3) q`,
    [target, hand, limit],
  );
  return rows[0]?.n ?? 0;
}

/** Seconds until the first running dispatch of a Hand reaches its deadline (B.77's retry_after_s). */
export async function oldestRunningRemainingS(
  db: Queryable,
  target: string,
  hand: string,
): Promise<number | null> {
  const { rows } = await db.query<{ remaining: number | null }>(
    `SELECT extract(epoch FROM min(deadline_at) - now())::float8 AS remaining
       FROM hand_running WHERE target = $1 AND hand = $2`,
    [target, hand],
  );
  return rows[0]?.remaining ?? null;
}

/** A dispatch answered earlier for the same idempotency key (B.77), with the body hash it had. */
export async function priorDispatch(
  db: Queryable,
  sender: string,
  key: string,
): Promise<{ message_id: string; body_hash: string } | null> {
  const { rows } = await db.query<{ message_id: string; body_hash: string }>(
    `SELECT reply->>'id' AS message_id, body_hash FROM idempotency_keys WHERE sender = $1 AND key = $2`,
    [sender, key],
  );
  return rows[0] ?? null;
}

/** Whether the target is stayed down, read with a share lock so a concurrent shutdown waits (B.15). */
export async function lockTargetStayDown(client: pg.PoolClient, target: string): Promise<boolean> {
  const { rows } = await client.query<{ stay_down: boolean }>(
    'SELECT stay_down FROM aspects WHERE name = $1 FOR SHARE',
    [target],
  );
  return rows[0]?.stay_down ?? false;
}

export interface NewDispatch {
  target: string;
  hand: string;
  dispatcher: string;
  threadId: string;
  messageId: string;
  content: string;
  input: unknown;
  deadlineS: number;
  handDefinition: Record<string, unknown>;
  handConcurrency: number;
  targetConcurrency: number;
  traceparent: string | null;
}

export async function insertDispatch(client: pg.PoolClient, d: NewDispatch): Promise<string> {
  const { rows } = await client.query<{ id: string }>(
    `WITH d AS (
       INSERT INTO hand_dispatches (id, target, hand, dispatcher, thread_id, message_id, content, input,
                                    deadline_s, hand_definition, traceparent)
       VALUES (nextval('dispatch_ids'), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       RETURNING id, dispatcher, target, hand)
     INSERT INTO hand_queue (dispatch_id, dispatcher, target, hand)
     SELECT id, dispatcher, target, hand FROM d
     RETURNING dispatch_id AS id`,
    [
      d.target,
      d.hand,
      d.dispatcher,
      d.threadId,
      d.messageId,
      d.content,
      d.input === undefined ? null : JSON.stringify(d.input),
      d.deadlineS,
      JSON.stringify(d.handDefinition),
      d.traceparent,
    ],
  );
  await client.query(
    `WITH hand AS (
       INSERT INTO hand_caps (target, hand, concurrency) VALUES ($1, $2, $3)
       ON CONFLICT (target, hand) DO UPDATE SET concurrency = EXCLUDED.concurrency
        WHERE hand_caps.concurrency <> EXCLUDED.concurrency)
     INSERT INTO hand_target_caps (target, hand_concurrency) VALUES ($1, $4)
     ON CONFLICT (target) DO UPDATE SET hand_concurrency = EXCLUDED.hand_concurrency
      WHERE hand_target_caps.hand_concurrency <> EXCLUDED.hand_concurrency`,
    [d.target, d.hand, d.handConcurrency, d.targetConcurrency],
  );
  return (rows[0] as { id: string }).id;
}

/** A thread the dispatch itself created has its dispatcher as participant, so it can read it. */
export async function addParticipant(
  client: pg.PoolClient,
  threadId: string,
  participant: string,
): Promise<void> {
  await client.query(
    'INSERT INTO thread_participants (thread_id, participant) VALUES ($1, $2) ON CONFLICT DO NOTHING',
    [threadId, participant],
  );
}

export async function dispatchForMessage(
  db: Queryable,
  messageId: string,
): Promise<{ id: string; thread_id: string } | null> {
  const { rows } = await db.query<{ id: string; thread_id: string }>(
    'SELECT id, thread_id FROM hand_dispatches WHERE message_id = $1',
    [messageId],
  );
  return rows[0] ?? null;
}

/** A dispatch that just ended, and the `hand_result` that says so. */
export interface EndedDispatch extends PostedMessage {
  dispatch_id: string;
  target: string;
  hand: string;
}

/** Ends queued dispatches at once with `envelope` (abort, stay-down); returns what it ended. */
export async function endQueued(
  db: Queryable,
  where: { dispatchId: string } | { target: string },
  envelope: Record<string, unknown>,
): Promise<EndedDispatch[]> {
  const { rows } = await db.query<EndedDispatch>('SELECT * FROM nexus_end_queued($1, $2, $3)', [
    'dispatchId' in where ? where.dispatchId : null,
    'target' in where ? where.target : null,
    JSON.stringify(envelope),
  ]);
  return rows;
}

/** Asks a running dispatch to stop at its worker's next heartbeat; false if it is not running. */
export async function requestAbort(db: Queryable, dispatchId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE hand_dispatches SET abort_requested = true WHERE id = $1 AND state = 'running'`,
    [dispatchId],
  );
  return rowCount === 1;
}

export interface DispatchRow {
  id: string;
  state: 'queued' | 'running' | 'done';
  target: string;
  hand: string;
  dispatcher: string;
  thread_id: string;
  attempt: number;
  submitted_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  result: Record<string, unknown> | null;
  running_at_start: number | null;
}

export async function readDispatch(db: Queryable, id: string): Promise<DispatchRow | null> {
  const { rows } = await db.query<DispatchRow>(
    `SELECT id, state, target, hand, dispatcher, thread_id, attempt, submitted_at, started_at, finished_at,
            result, running_at_start
       FROM hand_dispatches WHERE id = $1`,
    [id],
  );
  return rows[0] ?? null;
}

export interface QueueRow {
  id: string;
  state: 'queued' | 'running';
  target: string;
  hand: string;
  dispatcher: string;
  attempt: number;
  submitted_at: Date;
  started_at: Date | null;
  worker_id: string | null;
}

export async function listQueue(db: Queryable, target: string | null, limit: number): Promise<QueueRow[]> {
  const { rows } = await db.query<QueueRow>(
    `SELECT d.id, d.state, d.target, d.hand, d.dispatcher, d.attempt, d.submitted_at, d.started_at, r.worker_id
       FROM (SELECT dispatch_id FROM hand_running UNION ALL SELECT dispatch_id FROM hand_queue) x
       JOIN hand_dispatches d ON d.id = x.dispatch_id
       LEFT JOIN hand_running r ON r.dispatch_id = d.id
      WHERE $1::text IS NULL OR d.target = $1
      ORDER BY d.id LIMIT $2`,
    [target, limit],
  );
  return rows;
}

/** Queued and running counts per dispatcher and per target (B.29). */
export async function queueCounts(
  db: Queryable,
): Promise<{ by_dispatcher: QueueCountRow[]; by_target: QueueCountRow[] }> {
  const counts = (column: 'dispatcher' | 'target') =>
    db.query<QueueCountRow>(
      `SELECT ${column} AS aspect, count(*) FILTER (WHERE state = 'queued')::integer AS queued,
              count(*) FILTER (WHERE state = 'running')::integer AS running
         FROM (SELECT dispatcher, target, 'queued' AS state FROM hand_queue
               UNION ALL SELECT dispatcher, target, 'running' FROM hand_running) x
        GROUP BY 1 ORDER BY 1`,
    );
  const [byDispatcher, byTarget] = await Promise.all([counts('dispatcher'), counts('target')]);
  return { by_dispatcher: byDispatcher.rows, by_target: byTarget.rows };
}

export interface QueueCountRow {
  aspect: string;
  queued: number;
  running: number;
}

export interface LimitsRow {
  n: number;
  h: number | null;
  h_effective: number;
  queued: number;
  running: number;
}

export async function readLimits(db: Queryable, defaultN: number): Promise<LimitsRow> {
  const { rows } = await db.query<LimitsRow>(
    `SELECT coalesce(l.n, $1) AS n, l.h,
            greatest(coalesce(l.h, (SELECT count(*)::integer + 1 FROM aspects WHERE status IN ('live', 'stale'))),
                     coalesce(l.n, $1)) AS h_effective,
            (SELECT count(*)::integer FROM hand_queue) AS queued,
            (SELECT count(*)::integer FROM hand_running) AS running
       FROM (SELECT 1) one LEFT JOIN hand_limits l ON true`,
    [defaultN],
  );
  return rows[0] as LimitsRow;
}

/** Seeds the limits row from the settings when the table is empty (B.76). */
export async function seedLimits(db: Queryable, n: number, h: number | null): Promise<void> {
  await db.query('INSERT INTO hand_limits (n, h) VALUES ($1, $2) ON CONFLICT DO NOTHING', [n, h]);
}

export async function writeLimits(
  db: Queryable,
  change: { n?: number; h?: number | null },
  defaultN: number,
): Promise<void> {
  await db.query(
    `INSERT INTO hand_limits (n, h) VALUES (coalesce($1::integer, $3::integer), $2::integer)
     ON CONFLICT (only_row) DO UPDATE
       SET n = coalesce($1::integer, hand_limits.n), h = CASE WHEN $4::boolean THEN $2::integer ELSE hand_limits.h END`,
    [change.n ?? null, change.h ?? null, defaultN, change.h !== undefined],
  );
}
