/**
 * SQL of the alarms (B.27): create, list, delete, and the duty's due scan, firing and clean-up.
 * A firing is `nexus_fire_alarm` (migration 0018): the unique `(alarm_id, due_at)` row and the
 * message commit together, which is what makes each firing happen exactly once.
 */
import type { Alarm } from '../../protocol/index.js';
import type { Queryable } from '../db/pool.js';

interface AlarmRow {
  id: string;
  owner: string;
  to_list: string[];
  content: string;
  thread_id: string | null;
  at: Date | null;
  every_s: number | null;
  next_at: Date | null;
  fired: number;
  last_fired_at: Date | null;
  created_at: Date;
}

const COLUMNS = `id::text AS id, owner, to_list, content, thread_id::text AS thread_id, at, every_s, next_at,
  fired, last_fired_at, created_at`;

function toAlarm(row: AlarmRow): Alarm {
  return {
    id: row.id,
    owner: row.owner,
    to: row.to_list,
    content: row.content,
    ...(row.thread_id === null ? {} : { thread_id: row.thread_id }),
    ...(row.at === null ? {} : { at: row.at.toISOString() }),
    ...(row.every_s === null ? {} : { every_s: row.every_s }),
    next_at: row.next_at?.toISOString() ?? null,
    fired: row.fired,
    ...(row.last_fired_at === null ? {} : { last_fired_at: row.last_fired_at.toISOString() }),
    created_at: row.created_at.toISOString(),
  };
}

export interface NewAlarm {
  owner: string;
  ownerAdmin: boolean;
  to: string[];
  content: string;
  threadId: string | null;
  /** ISO time of the first firing; null: now + everyS. */
  at: string | null;
  everyS: number | null;
}

/**
 * Sends the alarm's message and undoes it (a savepoint), so an alarm the send path would refuse
 * (unknown thread, not a participant, `comms.send_to`, no such operator, stay-down) is refused at
 * creation with the code a firing would get. Raises nexus_send's refusal; must run in a transaction.
 */
export async function trySendOnce(tx: Queryable, alarm: NewAlarm): Promise<void> {
  await tx.query('SAVEPOINT alarm_check');
  try {
    await tx.query(
      `SELECT 1 FROM nexus_send($1, $2, $3, $4, 'system', NULL, $5, NULL, NULL, NULL, NULL, '', false, true)`,
      [alarm.owner, alarm.ownerAdmin, alarm.threadId, alarm.to, alarm.content],
    );
  } finally {
    await tx.query('ROLLBACK TO SAVEPOINT alarm_check');
  }
}

export async function insertAlarm(db: Queryable, alarm: NewAlarm): Promise<{ id: string; next_at: string }> {
  const result = await db.query<{ id: string; next_at: Date }>(
    `INSERT INTO alarms (owner, owner_admin, to_list, content, thread_id, at, every_s, next_at)
     VALUES ($1, $2, $3, $4, $5, $6::timestamptz, $7::integer,
             coalesce($6::timestamptz, now() + make_interval(secs => $7::integer)))
     RETURNING id::text AS id, next_at`,
    [alarm.owner, alarm.ownerAdmin, alarm.to, alarm.content, alarm.threadId, alarm.at, alarm.everyS],
  );
  const row = result.rows[0] as { id: string; next_at: Date };
  return { id: row.id, next_at: row.next_at.toISOString() };
}

/** The alarms `owner` created, or every alarm when `owner` is null (admins), by id. */
export async function listAlarms(db: Queryable, owner: string | null): Promise<Alarm[]> {
  const result = await db.query<AlarmRow>(
    `SELECT ${COLUMNS} FROM alarms WHERE $1::text IS NULL OR owner = $1 ORDER BY id LIMIT 10000`,
    [owner],
  );
  return result.rows.map(toAlarm);
}

export async function readAlarmOwner(db: Queryable, id: string): Promise<string | null> {
  const result = await db.query<{ owner: string }>(`SELECT owner FROM alarms WHERE id = $1`, [id]);
  return result.rows[0]?.owner ?? null;
}

export async function deleteAlarm(db: Queryable, id: string): Promise<boolean> {
  return ((await db.query(`DELETE FROM alarms WHERE id = $1`, [id])).rowCount ?? 0) > 0;
}

/** Ids of the alarms due now, oldest due first. */
export async function dueAlarms(db: Queryable, limit: number): Promise<string[]> {
  const result = await db.query<{ id: string }>(
    `SELECT id::text AS id FROM alarms WHERE next_at <= now() ORDER BY next_at LIMIT $1`,
    [limit],
  );
  return result.rows.map((r) => r.id);
}

export interface Firing {
  messageId: string | null;
  threadId: string | null;
  recipients: string[];
  dueAt: Date;
  error: string | null;
}

/** Fires one alarm if it is still due (one transaction, migration 0018); null when it was not. */
export async function fireAlarm(db: Queryable, id: string): Promise<Firing | null> {
  const result = await db.query<{
    message_id: string | null;
    thread_id: string | null;
    recipients: string[] | null;
    due_at: Date;
    error: string | null;
  }>(
    `SELECT message_id::text AS message_id, thread_id::text AS thread_id, recipients, due_at, error
       FROM nexus_fire_alarm($1)`,
    [id],
  );
  const row = result.rows[0];
  if (!row) return null;
  return {
    messageId: row.message_id,
    threadId: row.thread_id,
    recipients: row.recipients ?? [],
    dueAt: row.due_at,
    error: row.error,
  };
}

/**
 * Forgets what no longer matters: one-shot alarms a day after they fired, and the firing rows of
 * periodic alarms older than a day (their `next_at` is always later, so none can fire again).
 */
export async function deleteOldAlarmRecords(db: Queryable): Promise<void> {
  await db.query(`DELETE FROM alarms WHERE next_at IS NULL AND last_fired_at < now() - interval '1 day'`);
  await db.query(`DELETE FROM alarm_firings WHERE due_at < now() - interval '1 day'`);
}
