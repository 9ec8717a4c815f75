/** Data access for Hands: every query of the dispatch queue (schema in migration 0006). */
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

export interface Claimer {
  workerId: string;
  tokenId: string;
  max: number;
}

export interface ClaimedRow {
  claimer: number;
  dispatch_id: string;
  attempt: number;
  deadline_at: Date;
  running_at_start: number;
  target: string;
  hand: string;
  dispatcher: string;
  content: string;
  input: unknown;
  thread_id: string;
  hand_definition: Record<string, unknown>;
  traceparent: string | null;
  submitted_at: Date;
  provider: Record<string, unknown> | null;
  identity: Record<string, unknown> | null;
  script: unknown;
}

/**
 * One claim transaction for a gathered group of claimers (B.73): the claim commits in the first
 * statement; the details of what it started are read after, outside the pool lock. The hot
 * statements here are named, so each connection parses them once (B.73: prepared statements).
 */
export async function claim(db: Queryable, claimers: Claimer[], leaseS: number): Promise<ClaimedRow[]> {
  const { rows: picked } = await db.query<{ claimer: number; dispatch_id: string; running_at_start: number }>(
    {
      name: 'nexus_claim',
      text: 'SELECT claimer, dispatch_id, running_at_start FROM nexus_claim($1, $2, $3, $4)',
      values: [
        claimers.map((c) => c.workerId),
        claimers.map((c) => c.tokenId),
        claimers.map((c) => c.max),
        leaseS,
      ],
    },
  );
  if (picked.length === 0) return [];
  try {
    return await claimedDetails(db, picked);
  } catch (err) {
    // The claim committed but cannot be answered: hand the dispatches back now, so they do not
    // wait for their leases to expire and lose their retry.
    await Promise.all(
      picked.map((p) =>
        db
          .query(
            'SELECT * FROM nexus_release($1, $2, $3, (SELECT attempt FROM hand_running WHERE dispatch_id = $1))',
            [p.dispatch_id, claimers[p.claimer - 1]?.tokenId, claimers[p.claimer - 1]?.workerId],
          )
          .catch(() => undefined),
      ),
    );
    throw err;
  }
}

async function claimedDetails(
  db: Queryable,
  picked: { claimer: number; dispatch_id: string; running_at_start: number }[],
): Promise<ClaimedRow[]> {
  const { rows } = await db.query<Omit<ClaimedRow, 'claimer' | 'running_at_start'>>({
    name: 'hand_claimed_details',
    text: `SELECT d.id AS dispatch_id, d.attempt, d.deadline_at, d.target, d.hand, d.dispatcher, d.content, d.input,
                  d.thread_id, d.hand_definition, d.traceparent, d.submitted_at,
                  a.config->'provider' AS provider, a.identity, a.script
             FROM hand_dispatches d LEFT JOIN aspects a ON a.name = d.target
            WHERE d.id = ANY ($1::bigint[])`,
    values: [picked.map((p) => p.dispatch_id)],
  });
  const byId = new Map(rows.map((r) => [r.dispatch_id, r]));
  return picked.map((p) => ({ ...(byId.get(p.dispatch_id) as ClaimedRow), ...p }));
}

export interface LeaseKey {
  dispatchId: string;
  tokenId: string;
  workerId: string;
  attempt: number;
}

/** Renews a lease; null if it is no longer this worker's. `abort` is set past the deadline too. */
export async function renewLease(
  db: Queryable,
  lease: LeaseKey,
  leaseS: number,
): Promise<{ abort: boolean } | null> {
  const { rows } = await db.query<{ abort: boolean }>(
    `UPDATE hand_running r SET lease_expires_at = now() + $5 * interval '1 second'
       FROM hand_dispatches d
      WHERE r.dispatch_id = $1 AND r.token_id = $2 AND r.worker_id = $3 AND r.attempt = $4 AND d.id = r.dispatch_id
      RETURNING (d.abort_requested OR r.deadline_at <= now()) AS abort`,
    [lease.dispatchId, lease.tokenId, lease.workerId, lease.attempt, leaseS],
  );
  return rows[0] ?? null;
}

/**
 * Hands a dispatch back to the queue without using its retry (SIGTERM, B.75); one that was asked
 * to stop, or whose target is stayed down, ends `aborted` instead. null if the lease is not held.
 */
export async function releaseLease(
  db: Queryable,
  lease: LeaseKey,
): Promise<{ ended: EndedDispatch | null } | null> {
  const { rows } = await db.query<{ released: boolean } & Partial<PostedMessage>>(
    'SELECT * FROM nexus_release($1, $2, $3, $4)',
    [lease.dispatchId, lease.tokenId, lease.workerId, lease.attempt],
  );
  const row = rows[0];
  if (!row?.released) return null;
  if (!row.message_id) return { ended: null };
  const owner = await db.query<{ target: string; hand: string }>(
    'SELECT target, hand FROM hand_dispatches WHERE id = $1',
    [lease.dispatchId],
  );
  return {
    ended: {
      ...(row as PostedMessage),
      dispatch_id: lease.dispatchId,
      ...(owner.rows[0] as { target: string; hand: string }),
    },
  };
}

export interface Completion {
  dispatchId: string;
  attempt: number;
  envelope: Record<string, unknown>;
}

/** A dispatch that just ended, and the `hand_result` that says so. */
export interface EndedDispatch extends PostedMessage {
  dispatch_id: string;
  target: string;
  hand: string;
}

export interface CompletedRow extends EndedDispatch {
  submitted_at: Date;
  started_at: Date;
}

/**
 * Completes dispatches whose leases this worker holds, in one statement: the running rows go, each
 * dispatch ends with its envelope and the `hand_result` is posted. Leases not held return nothing.
 */
export async function completeLeases(
  db: Queryable,
  tokenId: string,
  workerId: string,
  items: Completion[],
): Promise<CompletedRow[]> {
  const { rows } = await db.query<CompletedRow>({
    name: 'nexus_complete',
    text: 'SELECT * FROM nexus_complete($1, $2, $3, $4, $5)',
    values: [
      tokenId,
      workerId,
      items.map((i) => i.dispatchId),
      items.map((i) => i.attempt),
      items.map((i) => JSON.stringify(i.envelope)),
    ],
  });
  return rows;
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

/** The credential seam (broker/credentials/dispatch-lease.ts): the target of a held lease. */
export async function heldLeaseTarget(db: Queryable, lease: LeaseKey): Promise<string | null> {
  const { rows } = await db.query<{ target: string }>(
    `SELECT target FROM hand_running
      WHERE dispatch_id = $1 AND token_id = $2 AND worker_id = $3 AND attempt = $4`,
    [lease.dispatchId, lease.tokenId, lease.workerId, lease.attempt],
  );
  return rows[0]?.target ?? null;
}

export interface SweepResult {
  requeued: number;
  ended: EndedDispatch[];
}

/** The lease duty's statement (B.16, B.75), then which dispatches the results it posted belong to. */
export async function sweepLeases(db: Queryable, graceS: number): Promise<SweepResult> {
  const { rows } = await db.query<
    { requeued: number; message_id: string | null } & Omit<PostedMessage, 'message_id'>
  >('SELECT * FROM nexus_hand_sweep($1)', [graceS]);
  const posted = rows.filter((r): r is typeof r & { message_id: string } => r.message_id !== null);
  const requeued = rows.reduce((sum, r) => sum + r.requeued, 0);
  if (posted.length === 0) return { requeued, ended: [] };
  const { rows: owners } = await db.query<{
    id: string;
    target: string;
    hand: string;
    result_message_id: string;
  }>(
    `SELECT d.id, d.target, d.hand, m.id AS result_message_id
       FROM messages m JOIN hand_dispatches d ON d.message_id = m.reply_to
      WHERE m.id = ANY ($1::bigint[])`,
    [posted.map((p) => p.message_id)],
  );
  const byMessage = new Map(owners.map((o) => [o.result_message_id, o]));
  return {
    requeued,
    ended: posted.flatMap((p) => {
      const owner = byMessage.get(p.message_id);
      return owner ? [{ ...p, dispatch_id: owner.id, target: owner.target, hand: owner.hand }] : [];
    }),
  };
}

export async function countQueueAndRunning(db: Queryable): Promise<{ queued: number; running: number }> {
  const { rows } = await db.query<{ queued: number; running: number }>(
    `SELECT (SELECT count(*)::integer FROM hand_queue) AS queued, (SELECT count(*)::integer FROM hand_running) AS running`,
  );
  return rows[0] as { queued: number; running: number };
}
