/**
 * Data access for the dispatcher's side of Hands: targets, queueing a dispatch (`nexus_dispatch`,
 * migration 0011), ending or aborting it, the queue and limits views. The worker's side (claims,
 * leases, completion, the sweep) is in lease-sql.ts.
 */
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

export interface NewDispatch {
  sender: string;
  admin: boolean;
  threadId: string | null;
  target: string;
  hand: string;
  content: string;
  input: unknown;
  traceparent: string | null;
  idempotencyKey: string | null;
  bodyHash: string;
  /** 0: no bound. */
  queueLimit: number;
  deadlineS: number;
  handDefinition: Record<string, unknown>;
  handConcurrency: number;
  targetConcurrency: number;
}

export type QueueOutcome =
  | { outcome: 'queued' | 'repeated'; dispatch_id: string; thread_id: string; message_id: string }
  | { outcome: 'key_used'; message_id: string }
  | { outcome: 'stay_down' }
  | { outcome: 'busy'; retry_after_s: number | null };

/**
 * Queues a dispatch in one statement (`nexus_dispatch`, migration 0011): the stay-down share lock,
 * the queue bound, the `hand` message (the B.1 send), the dispatch and its queue row. A refusal
 * (`stay_down`, `busy`) writes nothing; the send's own refusals are raised as database errors.
 */
export async function queueDispatch(db: Queryable, d: NewDispatch): Promise<QueueOutcome> {
  const { rows } = await db.query<QueueOutcome>({
    name: 'nexus_dispatch',
    text: `SELECT outcome, dispatch_id::text, thread_id::text, message_id::text, retry_after_s
             FROM nexus_dispatch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
    values: [
      d.sender,
      d.admin,
      d.threadId,
      d.target,
      d.hand,
      d.content,
      d.input === undefined ? null : JSON.stringify(d.input),
      d.traceparent,
      d.idempotencyKey,
      d.bodyHash,
      d.queueLimit,
      d.deadlineS,
      JSON.stringify(d.handDefinition),
      d.handConcurrency,
      d.targetConcurrency,
    ],
  });
  return rows[0] as QueueOutcome;
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
