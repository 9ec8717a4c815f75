import fc from 'fast-check';
import { RRF_K, reciprocalRankFusion } from './fusion.pure.js';

describe('reciprocal-rank fusion', () => {
  it('puts an item ranked well by both rankings above items ranked first by only one', () => {
    const fused = reciprocalRankFusion(
      [
        ['text-only', 'both', 'a'],
        ['vector-only', 'both', 'b'],
      ],
      10,
    );
    expect(fused.map((f) => f.id)).toEqual(['both', 'text-only', 'vector-only', 'a', 'b']);
    expect(fused[0]?.score).toBeCloseTo(2 / (RRF_K + 2) / (2 / (RRF_K + 1)));
  });

  it('scores 1 for an item first in every ranking, and sums 1 / (k + rank) otherwise', () => {
    expect(reciprocalRankFusion([['x'], ['x'], ['x']], 5)).toEqual([{ id: 'x', score: 1 }]);
    const [only] = reciprocalRankFusion([['x'], []], 5);
    expect(only?.score).toBeCloseTo(1 / (RRF_K + 1) / (2 / (RRF_K + 1)));
    const fused = reciprocalRankFusion([['p', 'q']], 5, 1);
    expect(fused).toEqual([
      { id: 'p', score: 1 },
      { id: 'q', score: 1 / 3 / (1 / 2) },
    ]);
  });

  it('breaks ties by the order in which items were first met, rank by rank', () => {
    // b and c tie (rank 1 of one ranking each); b is met first, reading ranking 0 before ranking 1.
    expect(reciprocalRankFusion([['b'], ['c']], 5).map((f) => f.id)).toEqual(['b', 'c']);
    expect(reciprocalRankFusion([['c'], ['b']], 5).map((f) => f.id)).toEqual(['c', 'b']);
  });

  it('counts an id repeated within one ranking once, at its first place', () => {
    const fused = reciprocalRankFusion([['a', 'a', 'b']], 5, 0);
    expect(fused).toEqual([
      { id: 'a', score: 1 },
      { id: 'b', score: 1 / 3 },
    ]);
  });

  it('returns at most limit items, and nothing for no rankings or a limit of 0', () => {
    expect(reciprocalRankFusion([['a', 'b', 'c']], 2).map((f) => f.id)).toEqual(['a', 'b']);
    expect(reciprocalRankFusion([], 5)).toEqual([]);
    expect(reciprocalRankFusion([['a']], 0)).toEqual([]);
  });

  it('for any rankings: each id once, scores in (0, 1] and descending, a single ranking kept in order', () => {
    const ranking = fc.uniqueArray(fc.constantFrom(...'abcdefghij'.split('')), { maxLength: 10 });
    fc.assert(
      fc.property(
        fc.array(ranking, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 12 }),
        (rankings, limit) => {
          const fused = reciprocalRankFusion(rankings, limit);
          const ids = fused.map((f) => f.id);
          expect(new Set(ids).size).toBe(ids.length);
          expect(ids.length).toBe(Math.min(limit, new Set(rankings.flat()).size));
          for (const { score } of fused) expect(score > 0 && score <= 1).toBe(true);
          const scores = fused.map((f) => f.score);
          expect(scores).toEqual([...scores].sort((x, y) => y - x));
          if (rankings.length === 1) expect(ids).toEqual((rankings[0] as string[]).slice(0, limit));
        },
      ),
    );
  });
});
