/**
 * B.88: the events a runtime could not publish while its socket was down, with their original
 * `ts`, at most `limit` of them: past it the oldest is dropped and counted, so the reconnect can
 * say how many were lost (`error {dropped: N}`).
 */
export interface RuntimeEvent {
  kind: string;
  ts: string;
  /** Present when the event belongs to a session or thread; null for the global session (B.88). */
  thread_id?: string | null;
  data: Record<string, unknown>;
}

export const EVENT_OUTBOX_LIMIT = 1000;

export class EventOutbox {
  private events: RuntimeEvent[] = [];
  private dropped = 0;

  constructor(private readonly limit = EVENT_OUTBOX_LIMIT) {}

  get size(): number {
    return this.events.length;
  }

  push(event: RuntimeEvent): void {
    this.events.push(event);
    if (this.events.length > this.limit) {
      this.events.shift();
      this.dropped++;
    }
  }

  /** Takes every kept event, oldest first, and how many were dropped since the last drain. */
  drain(): { events: RuntimeEvent[]; dropped: number } {
    const drained = { events: this.events, dropped: this.dropped };
    this.events = [];
    this.dropped = 0;
    return drained;
  }
}
