/**
 * What the turn loop reads from a session before taking a batch: the message ids it already holds
 * (B.17), the Hand results its branch awaits (B.11), and a turn a crash or an abandonment left
 * without its `custom.turn_end` (B.46).
 */
import type { SessionFile } from '../session/session-file.js';
import { branchTo } from '../session/context.pure.js';
import { awaitedDispatches } from './awaited.pure.js';

export interface SessionFacts {
  seen: ReadonlySet<string>;
  awaited: ReadonlySet<string>;
}

export const NO_FACTS: SessionFacts = { seen: new Set(), awaited: new Set() };

/** The message ids in the session's `turn.user` entries and the dispatches its branch awaits. */
export function sessionFacts(session: SessionFile | null): SessionFacts {
  if (!session) return NO_FACTS;
  const seen = new Set<string>();
  for (const e of session.entries)
    if (e.kind === 'turn.user') for (const id of e.payload.message_ids) seen.add(id);
  const branch = session.head ? branchTo(session.entries, session.head).branch : [];
  return { seen, awaited: awaitedDispatches(branch) };
}

/**
 * The newest turn on the branch if it has no `custom.turn_end` (B.46): walk back from the head to
 * the previous `turn_end`, collecting the message ids of the `turn.user` entries met.
 */
export function unfinishedTurn(session: SessionFile): { threadId: string; messageIds: string[] } | null {
  const messageIds: string[] = [];
  let threadId: string | null = null;
  let current = session.head === null ? undefined : session.get(session.head);
  while (current && current.kind !== 'custom.turn_end') {
    if (current.kind === 'turn.user') {
      messageIds.unshift(...current.payload.message_ids);
      threadId ??= current.payload.thread_id ?? null;
    }
    current = current.parentId === null ? undefined : session.get(current.parentId);
  }
  return threadId !== null && messageIds.length > 0 ? { threadId, messageIds } : null;
}
