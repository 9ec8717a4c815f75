/**
 * Long-poll claims, gathered (B.73): every claimer waiting on this replica joins the next claim
 * transaction, so the pool lock is taken once per round rather than once per worker. A round runs
 * when a claimer arrives, when a hint says the queue or the running set changed (NOTIFY, or this
 * replica's own dispatches and completions), and on a poll timer, so a lost hint costs latency and
 * never a claim.
 */
import type { Logger } from '../../platform/index.js';
import type { ClaimedRow, Claimer } from './lease-sql.js';

interface Waiter extends Claimer {
  deadline: number;
  resolve(rows: ClaimedRow[]): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout | null;
  /** Set while a round that includes this waiter is in flight: it cannot leave then. */
  inFlight: boolean;
  /** Its wait ran out (or its client left) during a round: answer as soon as the round ends. */
  expired: boolean;
}

const MAX_GATHERED = 64;

export class ClaimGate {
  private waiting: Waiter[] = [];
  private running = false;
  private again = false;
  private poller: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly runClaim: (claimers: Claimer[]) => Promise<ClaimedRow[]>,
    private readonly logger: Logger,
    private readonly pollMs = 1000,
  ) {}

  start(): void {
    this.poller = setInterval(() => {
      if (this.waiting.length > 0) this.kick();
    }, this.pollMs);
    this.poller.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.poller) clearInterval(this.poller);
    for (const w of [...this.waiting]) {
      // A waiter inside a running round is answered by that round, with what it claimed.
      if (w.inFlight) w.expired = true;
      else {
        this.remove(w);
        w.resolve([]);
      }
    }
  }

  /**
   * Claims up to `max` dispatches, waiting up to `waitS` for one; resolves with what it got (maybe
   * nothing). `onAbandon` lets the caller report a client that went away while waiting.
   */
  claim(claimer: Claimer, waitS: number, onAbandon: (abandon: () => void) => void): Promise<ClaimedRow[]> {
    // A stopping broker answers at once: a long poll that arrived after stop() would hold the HTTP
    // server's close for its whole wait.
    if (this.stopped) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        ...claimer,
        deadline: Date.now() + waitS * 1000,
        resolve,
        reject,
        timer: null,
        inFlight: false,
        expired: false,
      };
      const leave = () => {
        if (waiter.inFlight) return void (waiter.expired = true);
        this.remove(waiter);
        resolve([]);
      };
      if (waitS > 0) waiter.timer = setTimeout(leave, waitS * 1000);
      onAbandon(leave);
      this.waiting.push(waiter);
      this.kick();
    });
  }

  /** Something may have become claimable. */
  kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    void this.rounds();
  }

  private remove(waiter: Waiter): void {
    const i = this.waiting.indexOf(waiter);
    if (i >= 0) this.waiting.splice(i, 1);
    if (waiter.timer) clearTimeout(waiter.timer);
  }

  private async rounds(): Promise<void> {
    this.running = true;
    try {
      for (;;) {
        this.again = false;
        const batch = this.waiting.slice(0, MAX_GATHERED);
        if (batch.length === 0) break;
        const filledAll = await this.round(batch);
        // Stop when the pool gave less than was asked (nothing more is claimable until a hint),
        // unless a hint arrived meanwhile or more claimers wait than one round takes.
        if (!this.again && !(filledAll && this.waiting.length > 0)) break;
      }
    } finally {
      this.running = false;
    }
  }

  /** One claim transaction; true when every claimer in it got all it asked for. */
  private async round(batch: Waiter[]): Promise<boolean> {
    for (const w of batch) w.inFlight = true;
    let rows: ClaimedRow[];
    try {
      rows = await this.runClaim(batch);
    } catch (err) {
      this.logger.warn({ err }, 'claim round failed');
      for (const w of batch) {
        this.remove(w);
        w.reject(err);
      }
      return false;
    }
    const got = new Map<Waiter, ClaimedRow[]>();
    for (const row of rows) {
      const w = batch[row.claimer - 1] as Waiter;
      got.set(w, [...(got.get(w) ?? []), row]);
    }
    let filledAll = true;
    for (const w of batch) {
      w.inFlight = false;
      const mine = got.get(w) ?? [];
      if (mine.length < w.max) filledAll = false;
      if (mine.length > 0 || w.expired || Date.now() >= w.deadline) {
        this.remove(w);
        w.resolve(mine);
      }
    }
    return filledAll;
  }
}
