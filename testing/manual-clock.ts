/**
 * A clock that moves only when a test says so, for the timing logic of pure parts (the operator's
 * request limiter and work queue): `advance(ms)` fires every timer due by then, in due order, so a
 * test checks waits and backoff without sleeping and without timing asserts on real time.
 */
export class ManualClock {
  private time = 0;
  private seq = 0;
  private readonly timers: { at: number; seq: number; callback: () => void; cancelled: boolean }[] = [];

  now = (): number => this.time;

  setTimer = (callback: () => void, ms: number): { cancel(): void } => {
    const timer = { at: this.time + Math.max(0, ms), seq: this.seq++, callback, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  };

  /** Timers not yet fired nor cancelled. */
  pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Moves time forward by `ms`, firing due timers in order and letting promise callbacks run between them. */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    for (;;) {
      await flushPromises();
      const due = this.timers
        .filter((t) => !t.cancelled && t.at <= until)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers.splice(this.timers.indexOf(due), 1);
      this.time = Math.max(this.time, due.at);
      due.callback();
    }
    this.time = until;
    await flushPromises();
  }
}

/** Lets every queued promise callback run (a few macrotask turns). */
export async function flushPromises(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
