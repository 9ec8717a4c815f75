/** The raw-SQL side of the bus baselines: a plain table shaped like `messages`, and one insert. */
import type pg from 'pg';
import { persistMessage } from '../../broker/bus/messages-sql.js';

export async function createRawTable(client: pg.ClientBase): Promise<void> {
  await client.query(`CREATE TABLE IF NOT EXISTS bench_raw_messages (
    id bigserial PRIMARY KEY,
    thread_id bigint NOT NULL,
    sender text NOT NULL,
    to_list text[] NOT NULL,
    kind text NOT NULL,
    content text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  )`);
}

export const RAW_INSERT = `INSERT INTO bench_raw_messages (thread_id, sender, to_list, kind, content)
  VALUES ($1, $2, $3, 'chat', $4) RETURNING id, created_at`;

/** One durable single-row `INSERT … RETURNING` (synchronous_commit is on for the server). */
export async function rawInsert(
  client: pg.ClientBase,
  sender: string,
  to: string,
  text: string,
): Promise<void> {
  await client.query(RAW_INSERT, [1, sender, [to], text]);
}

/**
 * The broker's own durable send (`nexus_send`, the SQL of SPEC B.1) driven straight from pg,
 * without the broker: separates what the SQL costs from what the broker adds.
 */
export async function sqlSend(
  client: pg.ClientBase,
  sender: string,
  to: string,
  threadId: string | null,
  text: string,
): Promise<{ id: string; thread_id: string }> {
  return persistMessage(client, {
    sender,
    admin: false,
    threadId,
    to: [to],
    kind: 'chat',
    hand: null,
    content: text,
    input: undefined,
    replyTo: null,
    traceparent: null,
    idempotencyKey: null,
    bodyHash: 'bench',
    removeSelf: true,
    addParticipants: true,
    turnLimit: 0, // as BENCH_BROKER_ENV: counted, never noted
  });
}
