/**
 * The fairness rule of SPEC section 6, the one definition of which queued dispatch a claim starts.
 * The claim function `nexus_claim` (latest in migration 0009) applies the same rule in SQL; a property test checks that
 * the two agree on random pools (B.73). docs/hands.md has the proof sketch of the invariant.
 */

export interface QueuedDispatch {
  /** Decimal id; smaller is older. */
  id: string;
  dispatcher: string;
  target: string;
  hand: string;
}

export interface RunningDispatch {
  dispatcher: string;
  target: string;
  hand: string;
}

export interface PoolState {
  /** Soft cap N. */
  n: number;
  /** Hard ceiling H (callers pass max(H, N)). */
  h: number;
  running: RunningDispatch[];
  /** Queued dispatches, any order. */
  queued: QueuedDispatch[];
  /** Each Hand's own `concurrency` (key `target/hand`); 2 when absent, as declared by default. */
  handConcurrency: ReadonlyMap<string, number>;
  /** Each target's `hand_concurrency`; 2 when absent. */
  targetConcurrency: ReadonlyMap<string, number>;
}

/** The key of a Hand in `PoolState.handConcurrency`. */
export function handKey(d: { target: string; hand: string }): string {
  return `${d.target}/${d.hand}`;
}

const DEFAULT_CONCURRENCY = 2;

/** Running counts, kept up to date as a claim starts dispatches one after another. */
class RunningCounts {
  total = 0;
  private readonly byDispatcher = new Map<string, number>();
  private readonly byTarget = new Map<string, number>();
  private readonly byHand = new Map<string, number>();

  constructor(
    running: RunningDispatch[],
    private readonly caps: Pick<PoolState, 'handConcurrency' | 'targetConcurrency'>,
  ) {
    for (const r of running) this.add(r);
  }

  add(r: RunningDispatch): void {
    this.total += 1;
    bump(this.byDispatcher, r.dispatcher);
    bump(this.byTarget, r.target);
    bump(this.byHand, handKey(r));
  }

  dispatcherIdle(dispatcher: string): boolean {
    return (this.byDispatcher.get(dispatcher) ?? 0) === 0;
  }

  /** Whether `d` may start now: its Hand's and target's limits, then N, or H for an idle dispatcher. */
  claimable(d: QueuedDispatch, n: number, h: number): boolean {
    const handCap = this.caps.handConcurrency.get(handKey(d)) ?? DEFAULT_CONCURRENCY;
    const targetCap = this.caps.targetConcurrency.get(d.target) ?? DEFAULT_CONCURRENCY;
    if ((this.byHand.get(handKey(d)) ?? 0) >= handCap) return false;
    if ((this.byTarget.get(d.target) ?? 0) >= targetCap) return false;
    return this.total < n || (this.total < h && this.dispatcherIdle(d.dispatcher));
  }
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

export function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * The next dispatch to start, or null: the oldest claimable one whose dispatcher has nothing
 * running; failing that, the oldest claimable one.
 */
export function pickNext(
  state: PoolState,
  counts = new RunningCounts(state.running, state),
): QueuedDispatch | null {
  let oldestIdle: QueuedDispatch | null = null;
  let oldest: QueuedDispatch | null = null;
  for (const d of state.queued) {
    if (!counts.claimable(d, state.n, state.h)) continue;
    if (oldest === null || compareIds(d.id, oldest.id) < 0) oldest = d;
    if (counts.dispatcherIdle(d.dispatcher) && (oldestIdle === null || compareIds(d.id, oldestIdle.id) < 0))
      oldestIdle = d;
  }
  return oldestIdle ?? oldest;
}

/** The dispatches one claim transaction starts for up to `max` slots, in start order. */
export function pickClaims(state: PoolState, max: number): QueuedDispatch[] {
  const counts = new RunningCounts(state.running, state);
  let queued = state.queued;
  const started: QueuedDispatch[] = [];
  while (started.length < max) {
    const next = pickNext({ ...state, queued }, counts);
    if (next === null) break;
    started.push(next);
    counts.add(next);
    queued = queued.filter((d) => d !== next);
  }
  return started;
}

/**
 * The invariant itself, for tests: starting `started` from `state` is fair if it keeps the caps
 * and no claimable dispatch of an idle dispatcher was passed over for one of a busy dispatcher.
 */
export function fairStartProblem(state: PoolState, started: QueuedDispatch): string | null {
  const counts = new RunningCounts(state.running, state);
  if (!counts.claimable(started, state.n, state.h)) return `dispatch ${started.id} was not claimable`;
  if (!counts.dispatcherIdle(started.dispatcher)) {
    const passedOver = state.queued.find(
      (d) => d !== started && counts.dispatcherIdle(d.dispatcher) && counts.claimable(d, state.n, state.h),
    );
    if (passedOver)
      return `dispatch ${started.id} of busy ${started.dispatcher} started while ${passedOver.id} of idle ${passedOver.dispatcher} waited`;
  }
  return null;
}
