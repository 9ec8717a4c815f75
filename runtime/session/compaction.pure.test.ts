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
