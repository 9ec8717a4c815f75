/**
 * Tells the broker which aspects the operator expects to be live (B.24: `PUT
 * /v1/admin/expected-roster`), so an Aspect whose pod never registers raises `roster.missing`.
 *
 * Reports are debounced (a burst of changes is one PUT) and sent only when the list differs from
 * the one last accepted, except the forced report of each resync (the broker's database may have
 * been reset). A failed PUT is retried after 5 s doubling to 1 min; a later change replaces it.
 */
import type { Logger } from '../platform/index.js';
import type { AspectObject, BrokerAdmin } from './types.js';

/**
 * The broker names of the Aspects expected to run (B.24): not suspended, not being deleted, and
 * not Failed, whose spec is invalid and which can never run until it is edited (roster.missing
 * would be an alarm nobody can clear by waiting).
 */
export function expectedRoster(aspects: AspectObject[]): string[] {
  const names = aspects
    .filter(
      (a) =>
        !a.metadata.deletionTimestamp &&
        (a.spec as { suspend?: unknown } | undefined)?.suspend !== true &&
        a.status?.phase !== 'Failed',
    )
    .map((a) => a.metadata.name);
  return [...new Set(names)].sort();
}

const RETRY_MIN_MS = 5_000;
const RETRY_MAX_MS = 60_000;

export class RosterReporter {
  private timer: NodeJS.Timeout | null = null;
  private lastSent: string | null = null;
  private forced = false;
  private retryMs = RETRY_MIN_MS;
  private sending = false;
  private again = false;
  private stopped = false;

  constructor(
    private readonly options: {
      broker: Pick<BrokerAdmin, 'putExpectedRoster'>;
      source: string;
      logger: Logger;
      expected: () => string[];
      debounceMs: number;
    },
  ) {}

  /** Schedules a report after the debounce (sooner ones are folded in). */
  report(options: { force?: boolean } = {}): void {
    if (this.stopped) return;
    if (options.force) this.forced = true;
    this.schedule(this.options.debounceMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.send();
    }, ms);
    this.timer.unref();
  }

  private async send(): Promise<void> {
    if (this.stopped) return;
    if (this.sending) {
      this.again = true; // one PUT at a time, so they cannot arrive out of order
      return;
    }
    const aspects = this.options.expected();
    const body = JSON.stringify(aspects);
    if (body === this.lastSent && !this.forced) return;
    this.sending = true;
    const forced = this.forced;
    this.forced = false;
    try {
      await this.options.broker.putExpectedRoster(this.options.source, aspects);
      this.lastSent = body;
      this.retryMs = RETRY_MIN_MS;
      this.options.logger.info(
        { source: this.options.source, aspects: aspects.length },
        'expected roster reported',
      );
    } catch (err) {
      this.forced ||= forced;
      this.lastSent = null;
      this.options.logger.warn(
        { err: err instanceof Error ? err.message : String(err), retryInMs: this.retryMs },
        'could not report the expected roster',
      );
      if (!this.timer) this.schedule(this.retryMs);
      this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    } finally {
      this.sending = false;
      if (this.again) {
        this.again = false;
        void this.send();
      }
    }
  }
}
