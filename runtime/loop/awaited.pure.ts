/**
 * Which Hand results an aspect still awaits (B.11, triage's "stale hand results"): the invocation
 * messages of `dispatch_hand` calls that were queued on the current branch. A result for a
 * dispatch made on a branch that a rewind left behind is stale: acknowledged, no turn taken.
 */
import type { SessionEntry } from '../../protocol/index.js';

export function awaitedDispatches(branch: readonly SessionEntry[]): Set<string> {
  const dispatchCalls = new Set<string>();
  const awaited = new Set<string>();
  for (const entry of branch) {
    if (entry.kind === 'turn.assistant') {
      for (const call of entry.payload.tool_calls)
        if (call.name === 'dispatch_hand') dispatchCalls.add(call.id);
    } else if (entry.kind === 'turn.tool_result' && dispatchCalls.has(entry.payload.tool_call_id)) {
      if (entry.payload.is_error) continue;
      const messageId = queuedMessageId(entry.payload.content);
      if (messageId) awaited.add(messageId);
    }
  }
  return awaited;
}

function queuedMessageId(content: string): string | null {
  try {
    const parsed = JSON.parse(content) as { state?: unknown; message_id?: unknown };
    return parsed.state === 'queued' && typeof parsed.message_id === 'string' ? parsed.message_id : null;
  } catch {
    return null;
  }
}
