import type { Queryable } from '../db/pool.js';
import type { Message, MessageKind } from '../../protocol/index.js';

interface MessageRow {
  id: string;
  thread_id: string;
  sender: string;
  to_list: string[];
  kind: MessageKind;
  hand: string | null;
  content: string;
  input: unknown;
  reply_to: string | null;
  traceparent: string | null;
  created_at: Date;
  turn_limit: boolean;
}

const MESSAGE_COLUMNS = `m.id::text AS id, m.thread_id::text AS thread_id, m.sender, m.to_list, m.kind, m.hand,
  m.content, m.input, m.reply_to::text AS reply_to, m.traceparent, m.created_at, m.turn_limit`;

/** A message row in its wire shape: optional fields absent rather than null. */
export function toWireMessage(row: MessageRow): Message {
  const message: Message = {
    id: row.id,
    thread_id: row.thread_id,
    from: row.sender,
    to: row.to_list,
    kind: row.kind,
    content: row.content,
    created_at: row.created_at.toISOString(),
  };
  if (row.hand !== null) message.hand = row.hand;
  if (row.input !== null) message.input = row.input;
  if (row.reply_to !== null) message.reply_to = row.reply_to;
  if (row.traceparent !== null) message.traceparent = row.traceparent;
  if (row.turn_limit) message.turn_limit = true;
  return message;
}

export interface PersistRequest {
  sender: string;
  admin: boolean;
  threadId: string | null;
  to: string[] | null;
  kind: MessageKind;
  hand: string | null;
  content: string;
  input: unknown;
  replyTo: string | null;
  traceparent: string | null;
  idempotencyKey: string | null;
  bodyHash: string;
  /** Client sends drop the sender from `to`; broker-written messages may address their sender (B.77). */
  removeSelf: boolean;
  /** `hand` messages do not add participants (B.59). */
  addParticipants: boolean;
  /** NEXUS_THREAD_TURN_LIMIT (B.83): aspects' chat messages per thread between operator messages; 0 = off. */
  turnLimit: number;
}

export interface PersistResult {
  id: string;
  thread_id: string;
  created_at: Date;
  held_for: string[];
  recipients: string[];
  repeated: boolean;
  /** The turn-limit note this send posted (B.83), to announce with the message; null if none. */
  note_id: string | null;
  note_recipients: string[];
}

/** Persists one message with the locks of B.1, in one round trip (`nexus_send`, migration 0016). */
export async function persistMessage(db: Queryable, r: PersistRequest): Promise<PersistResult> {
  const result = await db.query<PersistResult>(
    `SELECT id::text AS id, thread_id::text AS thread_id, created_at, held_for, recipients, repeated,
            note_id::text AS note_id, note_recipients
       FROM nexus_send($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
    [
      r.sender,
      r.admin,
      r.threadId,
      r.to,
      r.kind,
      r.hand,
      r.content,
      r.input === undefined ? null : JSON.stringify(r.input),
      r.replyTo,
      r.traceparent,
      r.idempotencyKey,
      r.bodyHash,
      r.removeSelf,
      r.addParticipants,
      r.turnLimit,
    ],
  );
  return result.rows[0] as PersistResult;
}

/** Mailbox read for delivery and resume: `recipient`'s messages after `after`, ascending (B.1). */
export async function readMailbox(
  db: Queryable,
  recipient: string,
  after: string,
  limit: number,
): Promise<Message[]> {
  const result = await db.query<MessageRow>({
    name: 'read-mailbox',
    text: `SELECT ${MESSAGE_COLUMNS}
             FROM message_recipients mr JOIN messages m ON m.id = mr.message_id
            WHERE mr.recipient = $1 AND mr.message_id > $2
            ORDER BY mr.message_id LIMIT $3`,
    values: [recipient, after, limit],
  });
  return result.rows.map(toWireMessage);
}

/** Of the given mailboxes and their delivered positions, the ones that have something newer. */
export async function mailboxesWithNewer(
  db: Queryable,
  positions: { recipient: string; after: string }[],
): Promise<string[]> {
  if (positions.length === 0) return [];
  const result = await db.query<{ recipient: string }>({
    name: 'mailboxes-with-newer',
    text: `SELECT p.recipient FROM unnest($1::text[], $2::bigint[]) AS p(recipient, after)
            WHERE EXISTS (SELECT 1 FROM message_recipients mr WHERE mr.recipient = p.recipient AND mr.message_id > p.after)`,
    values: [positions.map((p) => p.recipient), positions.map((p) => p.after)],
  });
  return result.rows.map((r) => r.recipient);
}

export async function readMessagesByIds(db: Queryable, ids: string[]): Promise<Message[]> {
  const result = await db.query<MessageRow>(
    `SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.id = ANY($1::bigint[]) ORDER BY m.id`,
    [ids],
  );
  return result.rows.map(toWireMessage);
}

export interface HistoryFilter {
  threadId?: string;
  /** When set (non-admin callers without a thread), only messages this address sent or received. */
  party?: string;
  after?: string;
  before?: string;
  limit: number;
  order: 'asc' | 'desc';
}

/** History by thread, or by party (sent or received), or everything (admins), paged by id. */
export async function readHistory(db: Queryable, f: HistoryFilter): Promise<Message[]> {
  const result = await db.query<MessageRow>(
    `SELECT ${MESSAGE_COLUMNS} FROM messages m
      WHERE ($1::bigint IS NULL OR m.thread_id = $1)
        AND ($2::text IS NULL OR m.sender = $2
             OR EXISTS (SELECT 1 FROM message_recipients mr WHERE mr.recipient = $2 AND mr.message_id = m.id))
        AND ($3::bigint IS NULL OR m.id > $3) AND ($4::bigint IS NULL OR m.id < $4)
      ORDER BY CASE WHEN $5 = 'asc' THEN m.id END ASC, CASE WHEN $5 = 'desc' THEN m.id END DESC
      LIMIT $6`,
    [f.threadId ?? null, f.party ?? null, f.after ?? null, f.before ?? null, f.order, f.limit],
  );
  return result.rows.map(toWireMessage);
}

export async function threadExists(db: Queryable, threadId: string): Promise<boolean> {
  const result = await db.query('SELECT 1 FROM threads WHERE id = $1', [threadId]);
  return (result.rowCount ?? 0) > 0;
}

export async function isParticipant(db: Queryable, threadId: string, participant: string): Promise<boolean> {
  const result = await db.query(
    'SELECT 1 FROM thread_participants WHERE thread_id = $1 AND participant = $2',
    [threadId, participant],
  );
  return (result.rowCount ?? 0) > 0;
}

interface ThreadRow {
  id: string;
  participants: string[];
  updated_at: Date;
  last: MessageRow | null;
}

export interface ThreadFilter {
  id?: string;
  participant?: string;
  after?: string;
  before?: string;
  limit: number;
  order: 'asc' | 'desc';
}

/** Threads with participants and last message; filtered to one participant's unless admin. */
export async function listThreads(db: Queryable, f: ThreadFilter) {
  const result = await db.query<ThreadRow>(
    `SELECT t.id::text AS id, t.updated_at,
            ARRAY(SELECT tp.participant FROM thread_participants tp WHERE tp.thread_id = t.id ORDER BY tp.participant) AS participants,
            (SELECT row_to_json(x) FROM (SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.id = t.last_message_id) x) AS last
       FROM threads t
      WHERE ($1::bigint IS NULL OR t.id = $1)
        AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM thread_participants tp WHERE tp.thread_id = t.id AND tp.participant = $2))
        AND ($3::bigint IS NULL OR t.id > $3) AND ($4::bigint IS NULL OR t.id < $4)
      ORDER BY CASE WHEN $5 = 'asc' THEN t.id END ASC, CASE WHEN $5 = 'desc' THEN t.id END DESC
      LIMIT $6`,
    [f.id ?? null, f.participant ?? null, f.after ?? null, f.before ?? null, f.order, f.limit],
  );
  return result.rows.map((row) => ({
    id: row.id,
    participants: row.participants,
    updated_at: row.updated_at.toISOString(),
    last_message: row.last ? toWireMessage({ ...row.last, created_at: new Date(row.last.created_at) }) : null,
  }));
}

/** The largest message id so far (to refuse a resume from the future, B.3). */
export async function maxMessageId(db: Queryable): Promise<string> {
  const result = await db.query<{ max: string }>(`SELECT coalesce(max(id), 0)::text AS max FROM messages`);
  return result.rows[0]?.max ?? '0';
}

export async function readCursor(db: Queryable, recipient: string): Promise<string> {
  const result = await db.query<{ acked_id: string }>(
    `SELECT acked_id::text AS acked_id FROM cursors WHERE recipient = $1`,
    [recipient],
  );
  return result.rows[0]?.acked_id ?? '0';
}

/** Moves a recipient's stored ack forward only (a late, lower ack never moves it back). */
export async function advanceCursor(db: Queryable, recipient: string, ackedId: string): Promise<void> {
  await db.query(
    `INSERT INTO cursors (recipient, acked_id) VALUES ($1, $2)
     ON CONFLICT (recipient) DO UPDATE SET acked_id = greatest(cursors.acked_id, EXCLUDED.acked_id), updated_at = now()`,
    [recipient, ackedId],
  );
}
