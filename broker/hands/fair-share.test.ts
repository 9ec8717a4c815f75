import fc from 'fast-check';
import { fairStartProblem, pickClaims, type PoolState, type QueuedDispatch } from './fair-share.js';

const queued = (id: number, dispatcher: string, extra: Partial<QueuedDispatch> = {}): QueuedDispatch => ({
  id: String(id),
  dispatcher,
  target: 't',
  hand: 'h',
  ...extra,
});
/** Generous Hand and target limits, so only N and H decide. */
const roomy = { handConcurrency: new Map([['t/h', 100]]), targetConcurrency: new Map([['t', 100]]) };
const running = (dispatcher: string, target = 't', hand = 'h') => ({ dispatcher, target, hand });
const ids = (list: QueuedDispatch[]) => list.map((d) => d.id);

describe('pickClaims', () => {
  it('spills over to an idle dispatcher: N=1, H=2, A running, B queued last', () => {
    const state: PoolState = {
      n: 1,
      h: 2,
      running: [running('a')],
      queued: [queued(2, 'a'), queued(3, 'a'), queued(6, 'b')],
      ...roomy,
    };
    expect(ids(pickClaims(state, 5))).toEqual(['6']);
  });

  it('starts nothing past H, and past N only for an idle dispatcher', () => {
    const state: PoolState = { n: 1, h: 2, running: [running('a')], queued: [queued(2, 'a')], ...roomy };
    expect(pickClaims(state, 5)).toEqual([]);
    expect(
      pickClaims({ ...state, running: [running('a'), running('b')], queued: [queued(3, 'c')] }, 5),
    ).toEqual([]);
  });

  it('prefers the oldest dispatch of an idle dispatcher, then the oldest overall', () => {
    const state: PoolState = {
      n: 3,
      h: 3,
      running: [running('a')],
      queued: [queued(10, 'a'), queued(12, 'b'), queued(11, 'a'), queued(13, 'c')],
      ...roomy,
    };
    expect(ids(pickClaims(state, 2))).toEqual(['12', '13']);
  });

  it('orders decimal ids numerically, not as text', () => {
    const state: PoolState = { n: 2, h: 2, running: [], queued: [queued(10, 'a'), queued(9, 'a')], ...roomy };
    expect(ids(pickClaims(state, 1))).toEqual(['9']);
  });

  it("keeps each Hand's concurrency and each target's hand_concurrency", () => {
    const state: PoolState = {
      n: 10,
      h: 10,
      running: [running('a', 't', 'slow')],
      queued: [
        queued(1, 'b', { hand: 'slow' }),
        queued(2, 'b', { target: 'u' }),
        queued(3, 'c', { target: 'u' }),
      ],
      handConcurrency: new Map([['t/slow', 1]]),
      targetConcurrency: new Map([['u', 1]]),
    };
    expect(ids(pickClaims(state, 5))).toEqual(['2']);
  });
});

/** Small pools: three dispatchers, two targets, two Hands, tight limits. */
const poolArbitrary = fc
  .record({
    n: fc.integer({ min: 1, max: 4 }),
    extraH: fc.integer({ min: 0, max: 3 }),
    running: fc.array(
      fc.record({
        dispatcher: fc.constantFrom('a', 'b', 'c'),
        target: fc.constantFrom('x', 'y'),
        hand: fc.constantFrom('h1', 'h2'),
      }),
      { maxLength: 5 },
    ),
    queued: fc.uniqueArray(
      fc.record({
        id: fc.integer({ min: 1, max: 200 }).map(String),
        dispatcher: fc.constantFrom('a', 'b', 'c'),
        target: fc.constantFrom('x', 'y'),
        hand: fc.constantFrom('h1', 'h2'),
      }),
      { selector: (d) => d.id, maxLength: 8 },
    ),
    handCaps: fc.tuple(...['x/h1', 'x/h2', 'y/h1', 'y/h2'].map(() => fc.integer({ min: 1, max: 3 }))),
    targetCaps: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })),
    max: fc.integer({ min: 1, max: 6 }),
  })
  .map(({ n, extraH, running, queued, handCaps, targetCaps, max }) => ({
    state: {
      n,
      h: n + extraH,
      running,
      queued,
      handConcurrency: new Map(['x/h1', 'x/h2', 'y/h1', 'y/h2'].map((k, i) => [k, handCaps[i] as number])),
      targetConcurrency: new Map([
        ['x', targetCaps[0]],
        ['y', targetCaps[1]],
      ]),
    },
    max,
  }));

describe('the fairness invariant over random small pools', () => {
  it('every start is fair, keeps the caps, and a claim stops only when nothing is claimable', () => {
    fc.assert(
      fc.property(poolArbitrary, ({ state, max }) => {
        const started = pickClaims(state, max);
        let current: PoolState = state;
        for (const d of started) {
          const problem = fairStartProblem(current, d);
          if (problem) throw new Error(problem);
          // Brute force, independent of the counting code: the caps as the spec words them.
          const total = current.running.length;
          const dispatcherRunning = current.running.filter((r) => r.dispatcher === d.dispatcher).length;
          expect(total < current.n || (total < current.h && dispatcherRunning === 0)).toBe(true);
          current = {
            ...current,
            running: [...current.running, d],
            queued: current.queued.filter((q) => q !== d),
          };
        }
        expect(current.running.length).toBeLessThanOrEqual(Math.max(state.h, state.running.length));
        if (started.length < max) expect(pickClaims(current, 1)).toEqual([]);
      }),
      { numRuns: 3000 },
    );
  });

  it('claiming K at once equals claiming one K times', () => {
    fc.assert(
      fc.property(poolArbitrary, ({ state, max }) => {
        const batch = pickClaims(state, max);
        let current: PoolState = state;
        const oneByOne: QueuedDispatch[] = [];
        for (let i = 0; i < max; i += 1) {
          const [next] = pickClaims(current, 1);
          if (!next) break;
          oneByOne.push(next);
          current = {
            ...current,
            running: [...current.running, next],
            queued: current.queued.filter((q) => q !== next),
          };
        }
        expect(ids(batch)).toEqual(ids(oneByOne));
      }),
      { numRuns: 2000 },
    );
  });
});
