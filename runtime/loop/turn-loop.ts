/**
 * The runtime's one-turn-at-a-time loop: takes the next ready batch from the inbox, runs it, and
 * acknowledges what it finished (B.17, B.46). Between turns it runs the work that must not overlap
 * a turn (control requests, the idle-thread sweep).
 *
 * States: `idle` (nothing ready) ⇄ `running` (a loop is draining the inbox); `stayed down` (B.81:
 * the turn in flight abandoned, no new turn until `resume`); `stopped` (SIGTERM: the turn in flight
 * abandoned). An abandoned turn writes no `turn_end` and is not acknowledged: its batch goes back
 * to the inbox and is resumed from the session. A batch whose turn could not begin (B.82) goes back
 * too, unacknowledged, and its thread waits 1 s doubling to 60 s; every failure is an `error` event.
 */
import type { Message } from '../../protocol/index.js';
import type { Logger } from '../../platform/index.js';
import type { Inbox } from './inbox.js';
import { BatchBackoff } from './batch-backoff.js';
import { TurnNotStarted } from './turn.js';
import type { CrashPoint } from './crash-points.js';

/** After the loop itself failed (not a turn), how long before it runs again. */
const LOOP_RETRY_MS = 1000;

export interface TurnLoopDeps {
  inbox: Inbox;
  logger: Logger;
  /** Runs a batch; `taken` gains the mid-turn arrivals it takes. Throws TurnNotStarted (B.82). */
  processBatch(batch: Message[], taken: Message[], signal: AbortSignal): Promise<void>;
  /** Work that runs between turns only (control requests, the sweep), and whether any is waiting. */
  betweenTurns(): Promise<void>;
  hasWorkBetweenTurns(): boolean;
  /** Makes `id` the acknowledged position: state.json, then the broker. */
  acknowledge(id: string): Promise<void>;
  publishError(threadId: string | null, data: Record<string, unknown>): void;
  crash(point: CrashPoint): void;
  /** Aborted at SIGTERM. */
  shutdown: AbortSignal;
  backoff?: BatchBackoff;
}

export class TurnLoop {
  private running: Promise<void> | null = null;
  private currentTurn: AbortController | null = null;
  private stayedDown = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly backoff: BatchBackoff;
  private readonly held = (threadId: string) => this.backoff.isHeld(threadId);

  constructor(private readonly deps: TurnLoopDeps) {
    this.backoff = deps.backoff ?? new BatchBackoff();
  }

  get isStayedDown(): boolean {
    return this.stayedDown;
  }

  /** Starts draining the inbox unless a loop already runs, the runtime stopped, or it is stayed down. */
  kick(): void {
    this.running ??= (async () => {
      let failed = false;
      try {
        while (!this.deps.shutdown.aborted && !this.stayedDown) {
          await this.deps.betweenTurns();
          if (this.deps.shutdown.aborted || this.stayedDown) break; // arrived meanwhile
          const batch = this.deps.inbox.takeNextBatch(this.held);
          if (batch.length === 0) break;
          await this.takeTurn(batch);
        }
      } catch (err) {
        // Saving state.json, or work between turns (a sweep, a control request), failed: nothing
        // unprocessed was acknowledged. Reported, and the loop tries again after a pause, not at once.
        failed = true;
        this.deps.logger.error({ err: String(err) }, 'the turn loop failed; trying again in 1 s');
        this.deps.publishError(null, { error: `the turn loop failed: ${String(err)}` });
      } finally {
        this.running = null;
        if (!this.deps.shutdown.aborted && !this.stayedDown) {
          if (failed) this.retryLater(LOOP_RETRY_MS);
          else if (this.deps.inbox.hasReady(this.held) || this.deps.hasWorkBetweenTurns()) this.kick();
          else this.wakeForHeldBatches();
        }
      }
    })();
  }

  /** B.81: abandons the turn in flight and takes no new one until `resume`. */
  stayDown(): void {
    this.stayedDown = true;
    this.currentTurn?.abort();
  }

  /** Takes turns again (the stay-down was cleared); the abandoned batch comes first. */
  resume(): void {
    this.stayedDown = false;
    this.kick();
  }

  /** Waits for the loop after `shutdown` was aborted. */
  async stopped(): Promise<void> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.running?.catch(() => undefined);
  }

  /** Runs one batch, then acknowledges what it finished, unless the batch went back to the inbox. */
  private async takeTurn(batch: Message[]): Promise<void> {
    const threadId = (batch[0] as Message).thread_id;
    const taken = [...batch];
    const turn = new AbortController();
    const signal = AbortSignal.any([this.deps.shutdown, turn.signal]);
    this.currentTurn = turn;
    try {
      await this.deps.processBatch(batch, taken, signal);
      this.backoff.succeeded(threadId);
    } catch (err) {
      if (signal.aborted) {
        // Abandoned: resumed after the stay-down, or redelivered after a restart.
        this.deps.inbox.requeue(taken);
        this.deps.logger.info({ thread_id: threadId }, 'turn abandoned; its batch stays unacknowledged');
        return;
      }
      if (err instanceof TurnNotStarted) return this.hold(threadId, taken, err);
      // From the durable turn.user on, a failed turn is recorded and acknowledged (B.46).
      this.backoff.succeeded(threadId);
      this.deps.logger.error({ err }, 'turn failed');
      this.deps.publishError(threadId, { error: `turn failed: ${String(err)}` });
    } finally {
      this.currentTurn = null;
    }
    this.deps.crash('before-ack');
    const ack = this.deps.inbox.finish(taken.map((m) => m.id));
    if (ack) await this.deps.acknowledge(ack);
  }

  /** B.82: the batch goes back, unacknowledged, and its thread waits. */
  private hold(threadId: string, taken: Message[], err: TurnNotStarted): void {
    this.deps.inbox.requeue(taken);
    const delay = this.backoff.failed(threadId);
    this.deps.logger.warn(
      { thread_id: threadId, err: err.message, retryInMs: delay },
      'turn could not begin; will retry',
    );
    this.deps.publishError(threadId, {
      error: `turn could not begin: ${err.message}`,
      message_ids: taken.map((m) => m.id),
      retry_in_ms: delay,
    });
  }

  /** Only held batches wait: kick again when the earliest is due. */
  private wakeForHeldBatches(): void {
    const due = this.backoff.nextDueInMs();
    if (due === null || this.deps.inbox.depth === 0) {
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = null;
    } else this.retryLater(due);
  }

  private retryLater(ms: number): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.kick();
    }, ms);
  }
}
