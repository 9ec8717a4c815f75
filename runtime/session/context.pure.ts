/**
 * Replay: from a session's entries and its head, the context the model sees (SPEC section 7).
 *
 * Walk from the head to the root. The newest `compaction` met on the way stands for everything
 * before its `first_kept_entry_id`: the walk continues past it only down to that entry. Then play
 * forward. `branch_summary` and `custom.knowledge` become notes; the newest `system.prompt` on the
 * whole branch wins; other `custom.*` entries are bookkeeping and not replayed. Tool results the
 * compaction in force lists in `elided_tool_results` are replayed as a short marker (B.49). An entry whose
 * parent is missing (a corrupted line) is a root, preceded by a note that context was lost (B.56).
 */
import type { SessionEntry, ToolCall } from '../../protocol/index.js';

/** A provider-neutral message of the replayed context. */
export type ContextMessage =
  | { role: 'user'; content: string; note?: boolean }
  | { role: 'assistant'; content: string; tool_calls: ToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string; is_error: boolean };

export interface ReplayedContext {
  system: string | null;
  messages: ContextMessage[];
  /** The entries that produced `messages`, oldest first (for compaction planning and stats). */
  entries: SessionEntry[];
  /** The compaction in force, if any. */
  compactionId: string | null;
  /** Tool results replayed as `ELIDED_TOOL_RESULT` (the compaction in force's `elided_tool_results`). */
  elided: ReadonlySet<string>;
}

export const LOST_CONTEXT_NOTE =
  '[Earlier context of this session was lost: a session line could not be read.]';

/** What an elided tool result is replayed as (B.49): the call stays, its output is gone. */
export const ELIDED_TOOL_RESULT = '[This tool result was removed to fit the context window.]';

/** The branch from the root to `headId`, oldest first; `lostBefore` is set when a parent was missing. */
export function branchTo(
  entries: readonly SessionEntry[],
  headId: string,
): { branch: SessionEntry[]; lostBefore: boolean } {
  const byId = new Map(entries.map((e) => [e.id, e]));
  const branch: SessionEntry[] = [];
  const seen = new Set<string>();
  let current = byId.get(headId);
  let lostBefore = false;
  while (current && !seen.has(current.id)) {
    seen.add(current.id);
    branch.push(current);
    if (current.parentId === null) break;
    const parent = byId.get(current.parentId);
    if (!parent) lostBefore = true;
    current = parent;
  }
  return { branch: branch.reverse(), lostBefore };
}

/** Replays the branch ending at `headId` into the context for the next provider call. */
export function buildContext(entries: readonly SessionEntry[], headId: string | null): ReplayedContext {
  if (headId === null)
    return { system: null, messages: [], entries: [], compactionId: null, elided: new Set() };
  const { branch, lostBefore } = branchTo(entries, headId);

  let system: string | null = null;
  for (const entry of branch) if (entry.kind === 'system.prompt') system = entry.payload.text;

  let start = 0;
  let compaction: Extract<SessionEntry, { kind: 'compaction' }> | null = null;
  for (let i = branch.length - 1; i >= 0; i--) {
    const entry = branch[i] as SessionEntry;
    if (entry.kind === 'compaction') {
      compaction = entry;
      const kept = branch.findIndex((e) => e.id === entry.payload.first_kept_entry_id);
      start = kept >= 0 && kept < i ? kept : i;
      break;
    }
  }

  const messages: ContextMessage[] = [];
  if (lostBefore && compaction === null)
    messages.push({ role: 'user', content: LOST_CONTEXT_NOTE, note: true });
  const elided = new Set(compaction?.payload.elided_tool_results ?? []);
  // A compaction that only elided tool results, with nothing before it to summarise, has no summary.
  if (compaction && compaction.payload.summary !== '') {
    messages.push({
      role: 'user',
      content: `[Summary of the conversation so far]\n${compaction.payload.summary}`,
      note: true,
    });
  }
  const replayed = branch.slice(start).filter((e) => e !== compaction);
  for (const entry of replayed) {
    const message = toMessage(entry, elided);
    if (message) messages.push(message);
  }
  return { system, messages, entries: replayed, compactionId: compaction?.id ?? null, elided };
}

function toMessage(entry: SessionEntry, elided: ReadonlySet<string>): ContextMessage | null {
  switch (entry.kind) {
    case 'turn.user':
      return { role: 'user', content: entry.payload.content };
    case 'turn.assistant':
      return { role: 'assistant', content: entry.payload.content, tool_calls: entry.payload.tool_calls };
    case 'turn.tool_result':
      return {
        role: 'tool',
        tool_call_id: entry.payload.tool_call_id,
        content: elided.has(entry.id) ? ELIDED_TOOL_RESULT : entry.payload.content,
        is_error: entry.payload.is_error,
      };
    case 'branch_summary':
      return {
        role: 'user',
        content: `[Summary of a branch explored earlier]\n${entry.payload.summary}`,
        note: true,
      };
    case 'custom.knowledge':
      return {
        role: 'user',
        content: `[Knowledge found for this thread]\n${JSON.stringify(entry.payload.hits ?? [])}`,
        note: true,
      };
    default:
      return null;
  }
}
