/**
 * The per-object work queue of the operator (SPEC section 11, STYLE 5): keys are `namespace/name`
 * of Aspects, handled by a few workers.
 *
 * A key is in one of these states:
 *   idle → queued (add) → running (a worker took it) → idle
 *   running → running+dirty (add while running) → queued again right after the run ends
 *   any → delayed (addAfter, or a failed run's backoff) → queued when the delay is over
 * So one key is never handled twice at once, and a change that arrives mid-run is not lost.
 *
 * Backoff: a run that fails is retried after 500 ms, doubling per consecutive failure up to 5 min,
 * and reset by the first run that succeeds; the gaps between retries of one key never shrink while
 * it keeps failing (B.72 "no hot loop"). A change (`add`) reconciles at once even during a backoff
 * (B.107: a ConfigMap created now is followed now) but does not reset the failure count.
 */
import { realClock, type Clock } from './clock.js';

export interface QueueOutcome {
  /** A transient failure: retry with backoff. */
  error?: Error;
  /** Look again after this long, even with no change. */
  requeueAfterMs?: number;
  /**
   * The run tried nothing (the cache did not show the last writes yet): neither a success nor a
   * failure, so the failure count and its backoff stand.
   */
  deferred?: boolean;
}

export interface WorkQueueOptions {
  handle: (key: string) => Promise<QueueOutcome>;
  workers?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  clock?: Clock;
  /** Called with what a handler threw (a handler should return errors, not throw them). */
  onThrown?: (key: string, err: unknown) => void;
}

export const DEFAULT_BASE_BACKOFF_MS = 500;
export const DEFAULT_MAX_BACKOFF_MS = 5 * 60 * 1000;

export class WorkQueue {
  private readonly ready: string[] = [];
  private readonly queued = new Set<string>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();
  private readonly delayed = new Map<string, { at: number; timer: { cancel(): void } }>();
  private readonly failures = new Map<string, number>();
  private readonly workers: number;
  private readonly base: number;
  private readonly max: number;
  private readonly clock: Clock;
  private stopped = false;

  constructor(private readonly options: WorkQueueOptions) {
    this.workers = options.workers ?? 4;
    this.base = options.baseBackoffMs ?? DEFAULT_BASE_BACKOFF_MS;
    this.max = options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
    this.clock = options.clock ?? realClock;
  }

  /** Queues `key` now; a key already queued stays where it is, one running runs again after. */
  add(key: string): void {
    if (this.stopped) return;
    this.cancelDelay(key);
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.ready.push(key);
    this.pump();
  }

  /** Queues `key` after `ms`; an earlier pending delay of the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    const at = this.clock.now() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    pending?.timer.cancel();
    const timer = this.clock.setTimer(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, timer });
  }

  /** Keys waiting for a worker (not those delayed or running). */
  depth(): number {
    return this.ready.length;
  }

  /** Keys being handled now. */
  inFlight(): number {
    return this.running.size;
  }

  /** Consecutive failures of `key` so far (0 after a success). */
  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The wait before retrying after the `n`th consecutive failure. */
  backoffMs(n: number): number {
    return Math.min(this.max, this.base * 2 ** Math.min(n - 1, 40));
  }

  /** Forgets a key (its object is gone): no retry, no failure count. A running handler finishes. */
  forget(key: string): void {
    this.cancelDelay(key);
    this.failures.delete(key);
  }

  /** Stops taking work, drops what waits, and resolves when the running handlers are done. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const key of [...this.delayed.keys()]) this.cancelDelay(key);
    this.ready.length = 0;
    this.queued.clear();
    this.dirty.clear();
    await Promise.all(this.running.values());
  }

  private cancelDelay(key: string): void {
    this.delayed.get(key)?.timer.cancel();
    this.delayed.delete(key);
  }

  private pump(): void {
    while (!this.stopped && this.running.size < this.workers && this.ready.length > 0) {
      const key = this.ready.shift() as string;
      this.queued.delete(key);
      this.running.set(key, this.run(key));
    }
  }

  private async run(key: string): Promise<void> {
    let outcome: QueueOutcome;
    try {
      outcome = await this.options.handle(key);
    } catch (err) {
      this.options.onThrown?.(key, err);
      outcome = { error: err instanceof Error ? err : new Error(String(err)) };
    }
    this.running.delete(key);
    if (this.stopped) return;
    if (outcome.error) {
      const n = this.failuresOf(key) + 1;
      this.failures.set(key, n);
      this.addAfter(key, this.backoffMs(n));
    } else if (outcome.deferred) {
      const n = this.failuresOf(key);
      this.addAfter(key, Math.max(outcome.requeueAfterMs ?? 0, n > 0 ? this.backoffMs(n) : 0));
    } else {
      this.failures.delete(key);
      if (outcome.requeueAfterMs !== undefined) this.addAfter(key, outcome.requeueAfterMs);
    }
    if (this.dirty.delete(key)) this.add(key);
    this.pump();
  }
}
