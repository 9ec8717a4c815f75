/**
 * Inbound messages waiting for a turn, and the acknowledgement position. Messages are processed
 * thread by thread, so the ack is the highest id below which every received message is done:
 * acking past a still-pending message of another thread would lose it in a crash.
 */
import type { Message } from '../../protocol/index.js';

export class Inbox {
  private readonly waiting: Message[] = [];
  /** Received and not yet fully processed, by id. */
  private readonly unfinished = new Set<string>();
  private highestReceived = 0n;
  private acked: bigint;

  constructor(lastProcessedId: string) {
    this.acked = BigInt(lastProcessedId);
  }

  get depth(): number {
    return this.waiting.length;
  }

  get ackPosition(): string {
    return this.acked.toString();
  }

  push(message: Message): void {
    const id = BigInt(message.id);
    if (id <= this.acked || this.unfinished.has(message.id)) return;
    this.waiting.push(message);
    this.unfinished.add(message.id);
    if (id > this.highestReceived) this.highestReceived = id;
  }

  /**
   * The oldest waiting message and every other waiting message of its thread, skipping threads
   * that `held` says must wait (B.82).
   */
  takeNextBatch(held: (threadId: string) => boolean = () => false): Message[] {
    const first = this.waiting.find((m) => !held(m.thread_id));
    if (!first) return [];
    return this.takeThread(first.thread_id);
  }

  /** Whether a batch is waiting whose thread is not held. */
  hasReady(held: (threadId: string) => boolean = () => false): boolean {
    return this.waiting.some((m) => !held(m.thread_id));
  }

  /**
   * Puts taken messages back, unfinished and unacknowledged, in id order: a batch whose turn did
   * not begin (B.82) or was abandoned (B.81) is taken again later. Ids already waiting are skipped.
   */
  requeue(messages: readonly Message[]): void {
    const waiting = new Set(this.waiting.map((m) => m.id));
    for (const message of messages)
      if (this.unfinished.has(message.id) && !waiting.has(message.id)) this.waiting.push(message);
    this.waiting.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : BigInt(a.id) > BigInt(b.id) ? 1 : 0));
  }

  /** Removes and returns the waiting messages of `threadId` (mid-turn arrivals, B.46). */
  takeThread(threadId: string): Message[] {
    const taken = this.waiting.filter((m) => m.thread_id === threadId);
    for (let i = this.waiting.length - 1; i >= 0; i--)
      if (this.waiting[i]?.thread_id === threadId) this.waiting.splice(i, 1);
    return taken;
  }

  /**
   * Starts again at `lastProcessedId`: the broker's database changed and its ids restart (B.45).
   * Only before anything was received, when there is nothing to lose.
   */
  restartAt(lastProcessedId: string): void {
    if (this.unfinished.size > 0) throw new Error('the inbox can restart only while it is empty');
    this.acked = BigInt(lastProcessedId);
    this.highestReceived = 0n;
  }

  /** Marks ids done; returns the new ack position if it moved. */
  finish(ids: readonly string[]): string | null {
    for (const id of ids) this.unfinished.delete(id);
    let lowestUnfinished: bigint | null = null;
    for (const id of this.unfinished) {
      const n = BigInt(id);
      if (lowestUnfinished === null || n < lowestUnfinished) lowestUnfinished = n;
    }
    const next = lowestUnfinished === null ? this.highestReceived : lowestUnfinished - 1n;
    if (next <= this.acked) return null;
    this.acked = next;
    return next.toString();
  }
}
