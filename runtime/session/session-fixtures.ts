// Builders for session entries in tests: readable trees without hand-written ULIDs.
import type { SessionEntry } from '../../protocol/index.js';
import { ulidGenerator } from './ulid.js';

/** A small tree builder: each call appends under `parent` (default: the previous entry). */
export function sessionBuilder() {
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const nextId = ulidGenerator(() => clock++);
  const entries: SessionEntry[] = [];
  let last: string | null = null;
  const add = <E extends SessionEntry>(
    kind: E['kind'],
    payload: E['payload'],
    parent: string | null = last,
  ): string => {
    const id = nextId();
    entries.push({ id, parentId: parent, kind, ts: new Date(clock).toISOString(), payload } as SessionEntry);
    last = id;
    return id;
  };
  return {
    entries,
    system: (text: string, parent?: string | null) => add('system.prompt', { text }, parent),
    user: (content: string, parent?: string | null) => add('turn.user', { content, message_ids: [] }, parent),
    assistant: (
      content: string,
      parent?: string | null,
      tool_calls: { id: string; name: string; input: unknown }[] = [],
    ) => add('turn.assistant', { content, tool_calls }, parent),
    toolResult: (tool_call_id: string, content: string, parent?: string | null) =>
      add('turn.tool_result', { tool_call_id, content, is_error: false }, parent),
    compaction: (first_kept_entry_id: string, summary: string, parent?: string | null, elided?: string[]) =>
      add(
        'compaction',
        {
          first_kept_entry_id,
          summary,
          tokens_before: 100,
          tokens_after: 10,
          model: 'test',
          ...(elided ? { elided_tool_results: elided } : {}),
        },
        parent,
      ),
    branchSummary: (summary: string, from_entry_id: string, parent?: string | null) =>
      add('branch_summary', { summary, from_entry_id }, parent),
    custom: (kind: `custom.${string}`, payload: Record<string, unknown>, parent?: string | null) =>
      add(kind, payload, parent),
  };
}
