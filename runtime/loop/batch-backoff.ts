/**
 * B.82: a batch whose turn could not begin (its session cannot be opened, its credential cannot be
 * fetched, its `turn.user` could not be written) stays unacknowledged and waits, per thread, 1 s
 * doubling to 60 s before the next attempt. A thread whose turn began is released. Other threads
 * keep taking turns meanwhile; the ack stays below the held batch, so nothing behind it is lost.
 */
export class BatchBackoff {
  private readonly held = new Map<string, { failures: number; until: number }>();

  constructor(
    private readonly firstMs = 1000,
    private readonly capMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a failed attempt for `threadId`; returns how long it waits before the next one. */
  failed(threadId: string): number {
    const failures = (this.held.get(threadId)?.failures ?? 0) + 1;
    const delay = Math.min(this.capMs, this.firstMs * 2 ** (failures - 1));
    this.held.set(threadId, { failures, until: this.now() + delay });
    return delay;
  }

  /** The thread's turn began: its next failure starts the backoff afresh. */
  succeeded(threadId: string): void {
    this.held.delete(threadId);
  }

  /** Whether the thread must still wait. */
  isHeld(threadId: string): boolean {
    const entry = this.held.get(threadId);
    return entry !== undefined && entry.until > this.now();
  }

  /** Milliseconds until the earliest thread still waiting may try again; null when none waits. */
  nextDueInMs(): number | null {
    const now = this.now();
    let earliest: number | null = null;
    for (const { until } of this.held.values())
      if (until > now && (earliest === null || until < earliest)) earliest = until;
    return earliest === null ? null : earliest - now;
  }
}
