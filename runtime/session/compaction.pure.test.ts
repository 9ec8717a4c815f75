import {
  defaultMaxOutputTokens,
  defaultReserveTokens,
  planCompaction,
  shouldCompact,
} from './compaction.pure.js';
import { buildContext } from './context.pure.js';
import { sessionBuilder } from './session-fixtures.js';

describe('compaction arithmetic (B.49)', () => {
  it.each([
    [200_000, 40_000],
    [32_000, 10_000],
    [16_000, 8_000],
  ])('reserve for a %i-token window is %i', (window, reserve) => {
    expect(defaultReserveTokens(window)).toBe(reserve);
  });

  it('caps max output tokens at 4096 or a quarter of the window', () => {
    expect(defaultMaxOutputTokens(200_000)).toBe(4096);
    expect(defaultMaxOutputTokens(8000)).toBe(2000);
  });

  it('compacts only past window minus reserve', () => {
    expect(shouldCompact(160_000, { window: 200_000, reserveTokens: 40_000 })).toBe(false);
    expect(shouldCompact(160_001, { window: 200_000, reserveTokens: 40_000 })).toBe(true);
  });
});

describe('planCompaction', () => {
  function conversation(turns: number) {
    const s = sessionBuilder();
    s.system('sys');
    const users: string[] = [];
    for (let i = 0; i < turns; i++) {
      users.push(s.user(`u${i}`));
      s.assistant(`a${i}`);
    }
    return { s, users, head: s.entries.at(-1)?.id as string };
  }

  it('keeps the last N turns verbatim and summarises the rest, without the system prompt', () => {
    const { s, users, head } = conversation(5);
    const plan = planCompaction(buildContext(s.entries, head).entries, 2);
    expect(plan?.firstKeptEntryId).toBe(users[3]);
    expect(plan?.toSummarise.map((e) => e.kind)).toEqual([
      'turn.user',
      'turn.assistant',
      'turn.user',
      'turn.assistant',
      'turn.user',
      'turn.assistant',
    ]);
  });

  it('counts a turn with messages that joined it mid-way as one turn (B.21)', () => {
    const { s } = conversation(2);
    const opening = s.user('u2');
    s.assistant('a2 asks a tool', undefined, [{ id: 't1', name: 'send_message', input: {} }]);
    s.toolResult('t1', 'sent');
    s.user('joined mid-turn');
    s.user('joined too');
    const head = s.assistant('a2 answers both');
    const plan = planCompaction(buildContext(s.entries, head).entries, 1);
    expect(plan?.firstKeptEntryId).toBe(opening);
  });

  it('has nothing to do when there are no more turns than it keeps', () => {
    const { s, head } = conversation(2);
    expect(planCompaction(buildContext(s.entries, head).entries, 2)).toBeNull();
  });

  it('summarises a previous summary together with the turns after it', () => {
    const { s, users } = conversation(3);
    s.compaction(users[1] as string, 'old summary');
    s.user('u3');
    const head = s.assistant('a3');
    const replayed = buildContext(s.entries, head).entries;
    const plan = planCompaction(replayed, 1);
    expect(plan?.toSummarise.map((e) => e.kind === 'turn.user' && e.payload.content).filter(Boolean)).toEqual(
      ['u1', 'u2'],
    );
  });
});

describe('planCompaction when the kept turns alone exceed the budget (B.49)', () => {
  /** A turn with one tool call whose result is `size` characters (size ÷ 4 tokens). */
  function toolTurn(s: ReturnType<typeof sessionBuilder>, n: number, size: number) {
    const user = s.user(`u${n}`);
    s.assistant('', undefined, [{ id: `c${n}`, name: 'read', input: {} }]);
    const result = s.toolResult(`c${n}`, 'x'.repeat(size));
    s.assistant(`a${n}`);
    return { user, result };
  }
  const elidedOf = (plan: ReturnType<typeof planCompaction>) => plan?.elidedToolResults;

  it('elides the oldest kept tool results until the kept turns fit, and lists them in order', () => {
    const s = sessionBuilder();
    s.system('sys');
    toolTurn(s, 0, 400);
    const one = toolTurn(s, 1, 4000);
    const two = toolTurn(s, 2, 4000);
    const three = toolTurn(s, 3, 4000);
    const replayed = buildContext(s.entries, s.entries.at(-1)?.id as string).entries;
    const unbounded = planCompaction(replayed, 3);
    expect(unbounded?.elidedToolResults).toEqual([]);
    expect(unbounded?.keptTokens).toBeGreaterThan(3000);

    // About 3,000 tokens of results kept against a budget of 1,500: the two oldest go.
    const plan = planCompaction(replayed, 3, { keptBudgetTokens: 1500 });
    expect(plan?.firstKeptEntryId).toBe(one.user);
    expect(elidedOf(plan)).toEqual([one.result, two.result]);
    expect(plan?.keptTokens).toBeLessThanOrEqual(1500);
    expect(plan?.elidedToolResults).not.toContain(three.result);
  });

  it('plans a compaction only to elide when nothing is older than the kept turns', () => {
    const s = sessionBuilder();
    const only = toolTurn(s, 0, 8000);
    const replayed = buildContext(s.entries, s.entries.at(-1)?.id as string).entries;
    expect(planCompaction(replayed, 6)).toBeNull();
    const plan = planCompaction(replayed, 6, { keptBudgetTokens: 100 });
    expect(plan?.toSummarise).toEqual([]);
    expect(plan?.firstKeptEntryId).toBe(only.user);
    expect(elidedOf(plan)).toEqual([only.result]);
  });

  it('keeps a result shorter than the marker, and stops when no tool result is left', () => {
    const s = sessionBuilder();
    const tiny = toolTurn(s, 0, 8);
    s.user('y'.repeat(8000));
    const replayed = buildContext(s.entries, s.entries.at(-1)?.id as string).entries;
    // Over budget on user text alone: nothing to elide helps, and nothing is older than the kept turns.
    expect(planCompaction(replayed, 6, { keptBudgetTokens: 100 })).toBeNull();
    expect(tiny.result).toBeDefined();
  });

  it('carries over the elisions of the compaction in force that are still kept, and drops the rest', () => {
    const s = sessionBuilder();
    const zero = toolTurn(s, 0, 4000);
    const one = toolTurn(s, 1, 4000);
    s.compaction(zero.user, '', undefined, [zero.result, one.result]);
    toolTurn(s, 2, 40);
    const context = buildContext(s.entries, s.entries.at(-1)?.id as string);
    expect(context.elided).toEqual(new Set([zero.result, one.result]));
    // Keeping two turns: turn 0 is summarised (its elision goes with it), turn 1's is carried.
    const plan = planCompaction(context.entries, 2, { elided: context.elided });
    expect(plan?.firstKeptEntryId).toBe(one.user);
    expect(elidedOf(plan)).toEqual([one.result]);
    expect(plan?.keptTokens).toBeLessThan(200);
  });
});
