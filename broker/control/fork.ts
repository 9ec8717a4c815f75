/**
 * The broker's half of a fork (B.20, B.50). Before the request goes out: for an aspect in thread
 * mode the source thread must exist, and a thread id is reserved from the sequence and passed to the
 * runtime as `params.new_thread_id`. When the runtime reports success, inside the transaction that
 * records the result: the thread row with the source thread's participants (thread mode), and the
 * seed message, sent from the caller to the aspect (into the new thread; in global mode into a new
 * thread of its own), so the fork's first turn is an ordinary turn. A failed or unanswered fork
 * creates nothing: the reserved id stays unused.
 */
import {
  ForkParams,
  ForkReply,
  WireError,
  type ForkRequest,
  type ForkReply as ForkReplyType,
} from '../../protocol/index.js';
import type { z } from 'zod';
import type { Queryable } from '../db/pool.js';
import { threadExists } from '../bus/messages-sql.js';
import { refusalFromDatabase, type MessageService } from '../bus/send.js';
import { readContextMode, reserveThreadId, createForkedThread } from './control-sql.js';
import type { ControlRow } from './control-sql.js';

/** The params of the `control` frame for a fork; refuses a thread-mode fork without a known thread. */
export async function prepareFork(
  db: Queryable,
  aspect: string,
  body: z.infer<typeof ForkRequest>,
): Promise<z.infer<typeof ForkParams>> {
  if ((await readContextMode(db, aspect)) !== 'thread') return body;
  if (body.thread_id === undefined)
    throw new WireError('invalid_request', `thread_id: is required: ${aspect} runs in thread mode`);
  if (!(await threadExists(db, body.thread_id)))
    throw new WireError('not_found', `thread_id: thread ${body.thread_id} does not exist`);
  return { ...body, new_thread_id: await reserveThreadId(db) };
}

/**
 * Completes a fork the runtime reported done, inside `tx`. Returns the result to record (with
 * `seed_error` when the seed could not be sent: the fork itself stands) and what to announce after
 * commit.
 */
export async function completeFork(
  tx: Queryable,
  row: ControlRow,
  result: unknown,
  messages: MessageService,
): Promise<{ result: unknown; announce: () => void }> {
  const params = ForkParams.safeParse(row.params);
  const reply = ForkReply.safeParse(result);
  const nothing = { result, announce: () => undefined };
  if (!params.success || !reply.success) return nothing;
  const newThread = threadOf(reply.data);
  if (params.data.new_thread_id !== undefined) {
    // Only the thread the broker reserved is created, and only when the runtime forked into it.
    if (newThread !== params.data.new_thread_id || params.data.thread_id === undefined) return nothing;
    await createForkedThread(tx, newThread, params.data.thread_id);
  }
  const seed = params.data.seed_user_message;
  if (seed === undefined) return nothing;
  await tx.query('SAVEPOINT fork_seed');
  try {
    const sent = await messages.persistWithin(
      tx,
      { address: addressOfActor(row.requested_by), admin: true },
      { threadId: params.data.new_thread_id ?? null, to: [row.aspect], content: seed },
    );
    return { result, announce: sent.announce };
  } catch (err) {
    const refusal = refusalFromDatabase(err);
    if (!refusal) throw err;
    await tx.query('ROLLBACK TO SAVEPOINT fork_seed');
    return {
      result: { ...reply.data, seed_error: { code: refusal.code, message: refusal.message } },
      announce: () => undefined,
    };
  }
}

function threadOf(reply: ForkReplyType): string | null {
  return 'thread_id' in reply ? reply.thread_id : null;
}

/**
 * The address messages from the requester carry: the audit actor of an admin token is its address
 * (`op:NAME`); an admin-scoped aspect token's actor is `aspect:NAME` and its address `NAME`
 * (principal.ts). Only admins may request control, so no worker ever appears here.
 */
export function addressOfActor(actor: string): string {
  return actor.startsWith('aspect:') ? actor.slice('aspect:'.length) : actor;
}
