/**
 * The operator's client-side limit on requests to the API server (B.64, B.72: `OPERATOR_QPS`,
 * default 20, `OPERATOR_BURST`, default 30), as client-go's token bucket: a full bucket of `burst`
 * tokens refilled at `qps` per second; each request takes one, waiting in arrival order when none
 * is left. Waiting requests are served first-in first-out, so no request starves.
 *
 * Time comes from an injected clock and timer, so tests drive it without sleeping.
 */
import { realClock, type Clock } from '../clock.js';

/** Thrown to the waiters of a limiter that was stopped. */
export class LimiterStopped extends Error {
  constructor() {
    super('the request limiter was stopped');
    this.name = 'LimiterStopped';
  }
}

export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private timer: { cancel(): void } | null = null;
  private stopped = false;

  constructor(
    private readonly qps: number,
    private readonly burst: number,
    private readonly clock: Clock = realClock,
  ) {
    if (!(qps > 0)) throw new Error('qps must be above 0');
    if (!(burst >= 1)) throw new Error('burst must be at least 1');
    this.tokens = burst;
    this.last = clock.now();
  }

  /** Resolves when the caller may send one request. */
  take(): Promise<void> {
    if (this.stopped) return Promise.reject(new LimiterStopped());
    this.refill();
    if (this.waiters.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.schedule();
    });
  }

  /** Takes a token only if one is there now and nobody waits: for what is dropped rather than delayed. */
  tryTake(): boolean {
    if (this.stopped) return false;
    this.refill();
    if (this.waiters.length > 0 || this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** How many requests could go now without waiting (whole tokens). */
  available(): number {
    this.refill();
    return Math.floor(this.tokens);
  }

  /** Rejects every waiter; later takes reject at once. */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
    for (const waiter of this.waiters.splice(0)) waiter.reject(new LimiterStopped());
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
  }

  /** Serves waiters while tokens last, then sleeps until the next token is due. */
  private drain(): void {
    this.timer = null;
    this.refill();
    while (this.waiters.length > 0 && this.tokens >= 1) {
      this.tokens -= 1;
      this.waiters.shift()?.resolve();
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.waiters.length === 0 || this.stopped) return;
    const dueMs = Math.max(0, ((1 - this.tokens) / this.qps) * 1000);
    this.timer = this.clock.setTimer(() => this.drain(), dueMs);
  }
}
