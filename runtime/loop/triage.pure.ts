/**
 * Which inbound messages need a turn (SPEC section 7, B.11, B.59), by fixed rules. Pure.
 * - the aspect's own `chat` messages: dropped (a self-dispatch's hand_result still reaches it);
 * - messages the broker flagged `turn_limit` (the thread passed NEXUS_THREAD_TURN_LIMIT without an
 *   operator, B.83), and its note saying so: dropped, so two aspects cannot answer each other forever;
 * - duplicates (ids at or below the last processed id, or already on the branch): dropped;
 * - `hand` messages: the invocation record; runtimes never take a turn on it;
 * - `hand_result` for a dispatch the aspect no longer awaits: dropped.
 * Everything dropped is still acknowledged by the caller.
 */
import type { Message } from '../../protocol/index.js';

export interface TriageInput {
  self: string;
  lastProcessedId: bigint;
  /** Message ids already recorded in `turn.user` entries of the session (B.17). */
  alreadyInSession: ReadonlySet<string>;
  /** Dispatch message ids (the `hand` messages) this aspect still awaits results for. */
  awaitedDispatches: ReadonlySet<string>;
}

export type TriageVerdict =
  | { take: true }
  | { take: false; reason: 'own' | 'duplicate' | 'turn_limit' | 'hand_record' | 'unawaited_result' };

export function triage(message: Message, input: TriageInput): TriageVerdict {
  if (BigInt(message.id) <= input.lastProcessedId || input.alreadyInSession.has(message.id)) {
    return { take: false, reason: 'duplicate' };
  }
  if (message.kind === 'chat' && message.from === input.self) return { take: false, reason: 'own' };
  if (message.turn_limit) return { take: false, reason: 'turn_limit' };
  if (message.kind === 'hand') return { take: false, reason: 'hand_record' };
  if (
    message.kind === 'hand_result' &&
    !(message.reply_to && input.awaitedDispatches.has(message.reply_to))
  ) {
    return { take: false, reason: 'unawaited_result' };
  }
  return { take: true };
}

/** Splits an inbox into per-thread batches, oldest thread first, keeping id order (B.46). */
export function batchByThread(messages: readonly Message[]): Message[][] {
  const byThread = new Map<string, Message[]>();
  for (const message of [...messages].sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1))) {
    const batch = byThread.get(message.thread_id) ?? [];
    batch.push(message);
    byThread.set(message.thread_id, batch);
  }
  return [...byThread.values()];
}
