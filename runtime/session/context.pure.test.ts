import { buildContext, ELIDED_TOOL_RESULT, LOST_CONTEXT_NOTE } from './context.pure.js';
import { sessionBuilder } from './session-fixtures.js';

const contents = (ctx: ReturnType<typeof buildContext>) => ctx.messages.map((m) => `${m.role}:${m.content}`);

describe('buildContext', () => {
  it('replays the branch from the root to the head, in order', () => {
    const s = sessionBuilder();
    s.system('be brief');
    s.user('hi');
    s.assistant('hello');
    const head = s.user('how are you?');
    const ctx = buildContext(s.entries, head);
    expect(ctx.system).toBe('be brief');
    expect(contents(ctx)).toEqual(['user:hi', 'assistant:hello', 'user:how are you?']);
  });

  it('follows only the active branch after a rewind', () => {
    const s = sessionBuilder();
    const first = s.user('one');
    s.assistant('old answer');
    s.user('abandoned');
    const summary = s.branchSummary('tried something', first, first);
    const head = s.assistant('new answer', summary);
    expect(contents(buildContext(s.entries, head))).toEqual([
      'user:one',
      'user:[Summary of a branch explored earlier]\ntried something',
      'assistant:new answer',
    ]);
  });

  it('stands a compaction summary in for everything before its first kept entry', () => {
    const s = sessionBuilder();
    s.system('sys');
    s.user('u1');
    s.assistant('a1');
    const kept = s.user('u2');
    s.assistant('a2');
    s.compaction(kept, 'u1 asked, a1 answered');
    s.user('u3');
    const head = s.assistant('a3');
    const ctx = buildContext(s.entries, head);
    expect(ctx.system).toBe('sys');
    expect(contents(ctx)).toEqual([
      'user:[Summary of the conversation so far]\nu1 asked, a1 answered',
      'user:u2',
      'assistant:a2',
      'user:u3',
      'assistant:a3',
    ]);
  });

  it('uses only the newest compaction when there are several', () => {
    const s = sessionBuilder();
    const u1 = s.user('u1');
    s.assistant('a1');
    s.compaction(u1, 'first summary');
    const u2 = s.user('u2');
    s.assistant('a2');
    const head = s.compaction(u2, 'second summary');
    expect(contents(buildContext(s.entries, head))).toEqual([
      'user:[Summary of the conversation so far]\nsecond summary',
      'user:u2',
      'assistant:a2',
    ]);
  });

  it('lets the newest system prompt on the branch win, even one before a compaction', () => {
    const s = sessionBuilder();
    s.system('old');
    s.system('new');
    const u = s.user('u');
    const head = s.compaction(u, 'sum');
    expect(buildContext(s.entries, head).system).toBe('new');
  });

  it('replays tool calls and their results, and skips bookkeeping entries', () => {
    const s = sessionBuilder();
    s.user('go');
    s.assistant('', undefined, [{ id: 't1', name: 'send_message', input: { content: 'x' } }]);
    s.toolResult('t1', '{"id":"5"}');
    const head = s.custom('custom.turn_end', { reason: 'done' });
    const ctx = buildContext(s.entries, head);
    expect(ctx.messages).toEqual([
      { role: 'user', content: 'go' },
      {
        role: 'assistant',
        content: '',
        tool_calls: [{ id: 't1', name: 'send_message', input: { content: 'x' } }],
      },
      { role: 'tool', tool_call_id: 't1', content: '{"id":"5"}', is_error: false },
    ]);
  });

  it('treats an entry whose parent is missing as a root preceded by a lost-context note', () => {
    const s = sessionBuilder();
    s.user('lost');
    const orphan = s.user('kept');
    const head = s.assistant('reply');
    const entries = s.entries.filter((e) => e.id !== s.entries[0]?.id);
    expect(buildContext(entries, head).messages[0]).toEqual({
      role: 'user',
      content: LOST_CONTEXT_NOTE,
      note: true,
    });
    expect(contents(buildContext(entries, head)).slice(1)).toEqual(['user:kept', 'assistant:reply']);
    expect(orphan).toBeDefined();
  });

  it('gives an empty context for an empty session', () => {
    expect(buildContext([], null)).toEqual({
      system: null,
      messages: [],
      entries: [],
      compactionId: null,
      elided: new Set(),
    });
  });

  it('replays the tool results the compaction in force elided as a marker, and no empty summary', () => {
    const s = sessionBuilder();
    const user = s.user('read both files');
    s.assistant('', undefined, [
      { id: 'c1', name: 'read', input: { path: 'a' } },
      { id: 'c2', name: 'read', input: { path: 'b' } },
    ]);
    const big = s.toolResult('c1', 'A'.repeat(1000));
    s.toolResult('c2', 'small');
    s.compaction(user, '', undefined, [big]);
    const head = s.assistant('done');
    const context = buildContext(s.entries, head);
    expect(context.elided).toEqual(new Set([big]));
    expect(context.messages.filter((m) => m.role === 'tool').map((m) => m.content)).toEqual([
      ELIDED_TOOL_RESULT,
      'small',
    ]);
    expect(context.messages[0]).toEqual({ role: 'user', content: 'read both files' });
    // The entry itself is untouched: nothing is deleted.
    expect(s.entries.find((e) => e.id === big)?.payload).toMatchObject({ content: 'A'.repeat(1000) });
  });
});
