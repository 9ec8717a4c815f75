/**
 * Data access for the worker's side of Hands: the claim (B.73), lease renewal and release,
 * completion, and the lease duty's sweep. The hot statements are named, so each connection parses
 * them once (B.73: prepared statements).
 */
import type { Queryable } from '../db/pool.js';
import type { EndedDispatch, PostedMessage } from './dispatch-sql.js';

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
 * One claim transaction for a gathered group of claimers (B.73), in one round trip: `nexus_claim`
 * (migration 0010) takes the pool lock, starts what the fairness rule allows and returns what each
 * worker needs to run it.
 */
export async function claim(db: Queryable, claimers: Claimer[], leaseS: number): Promise<ClaimedRow[]> {
  const { rows } = await db.query<ClaimedRow>({
    name: 'nexus_claim',
    text: 'SELECT * FROM nexus_claim($1, $2, $3, $4)',
    values: [
      claimers.map((c) => c.workerId),
      claimers.map((c) => c.tokenId),
      claimers.map((c) => c.max),
      leaseS,
    ],
  });
  return rows;
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
): Promise<{ ended: EndedDispatch | null; requeued: RequeuedDispatch | null } | null> {
  const { rows } = await db.query<{ released: boolean } & Partial<PostedMessage>>(
    'SELECT * FROM nexus_release($1, $2, $3, $4)',
    [lease.dispatchId, lease.tokenId, lease.workerId, lease.attempt],
  );
  const row = rows[0];
  if (!row?.released) return null;
  const [owner] = (await readRequeued(db, [lease.dispatchId])) as [RequeuedDispatch];
  if (!row.message_id) return { ended: null, requeued: owner };
  return {
    ended: {
      ...(row as PostedMessage),
      dispatch_id: lease.dispatchId,
      target: owner.target,
      hand: owner.hand,
    },
    requeued: null,
  };
}

export interface Completion {
  dispatchId: string;
  attempt: number;
  envelope: Record<string, unknown>;
  /** The worker's trace context, carried on the `hand_result` (B.60, B.87); absent keeps the dispatch's. */
  traceparent?: string;
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
    text: 'SELECT * FROM nexus_complete($1, $2, $3, $4, $5, $6)',
    values: [
      tokenId,
      workerId,
      items.map((i) => i.dispatchId),
      items.map((i) => i.attempt),
      items.map((i) => JSON.stringify(i.envelope)),
      items.map((i) => i.traceparent ?? null),
    ],
  });
  return rows;
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
  /** Dispatches whose lease expired for the first time: back in the queue. */
  requeued: RequeuedDispatch[];
  ended: EndedDispatch[];
}

export interface RequeuedDispatch {
  dispatch_id: string;
  target: string;
  hand: string;
  thread_id: string;
  attempt: number;
}

/** What the `hand.requeued` event of each dispatch names. */
async function readRequeued(db: Queryable, ids: string[]): Promise<RequeuedDispatch[]> {
  const { rows } = await db.query<RequeuedDispatch>(
    `SELECT id AS dispatch_id, target, hand, thread_id::text, attempt FROM hand_dispatches
      WHERE id = ANY ($1::bigint[])`,
    [ids],
  );
  return rows;
}

/** The lease duty's statement (B.16, B.75), then which dispatches its rows belong to. */
export async function sweepLeases(db: Queryable, graceS: number): Promise<SweepResult> {
  const { rows } = await db.query<
    { requeued_id: string | null; message_id: string | null } & Omit<PostedMessage, 'message_id'>
  >('SELECT * FROM nexus_hand_sweep($1)', [graceS]);
  const requeuedIds = rows.flatMap((r) => (r.requeued_id === null ? [] : [r.requeued_id]));
  const posted = rows.filter((r): r is typeof r & { message_id: string } => r.message_id !== null);
  const requeued = requeuedIds.length === 0 ? [] : await readRequeued(db, requeuedIds);
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

/** The tables every claim and completion inserts into and deletes from. */
const CHURNING_TABLES = ['hand_queue', 'hand_running'] as const;

/**
 * Vacuums the churning tables that hold at least `deadRows` dead rows; returns which it vacuumed.
 * Autovacuum visits at most once a minute, and between visits the claim's scans cross the dead
 * rows and index entries at the front of each group (docs/benchmarks.md, Hands).
 */
export async function vacuumChurnedTables(db: Queryable, deadRows: number): Promise<string[]> {
  const { rows } = await db.query<{ relname: (typeof CHURNING_TABLES)[number] }>(
    // Not again within 10 s: dead rows a long transaction still needs stay counted after a vacuum.
    `SELECT relname FROM pg_stat_user_tables
      WHERE schemaname = current_schema() AND relname = ANY ($1) AND n_dead_tup >= $2
        AND coalesce(last_vacuum, '-infinity') < now() - interval '10 seconds'`,
    [CHURNING_TABLES, deadRows],
  );
  const churned = rows.map((r) => r.relname).filter((name) => CHURNING_TABLES.includes(name));
  // A table name cannot be a parameter; these come from the fixed list above.
  for (const table of churned) await db.query(`VACUUM (SKIP_LOCKED, TRUNCATE false) ${table}`);
  return churned;
}
