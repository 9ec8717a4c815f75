/**
 * Sends NOTIFY hints after commit, never inside a sending transaction (a notifying commit takes a
 * cluster-wide lock and serialises every commit, SPEC B.1). Hints are coalesced: the first one
 * after an idle period goes out at once (B.79); hints raised while one is in flight are merged into
 * the next. A payload is an object of string sets, ids and names only; one too large for NOTIFY
 * becomes `{"all": ["1"]}`, which tells listeners to poll everything.
 */
import type { Logger } from '../../platform/index.js';
import type { Queryable } from './pool.js';

export type Hint = Record<string, readonly string[]>;
const MAX_PAYLOAD_BYTES = 7000;

export class Notifier {
  private readonly pending = new Map<string, Map<string, Set<string>>>();
  private flushing = false;

  constructor(
    private readonly db: Queryable,
    private readonly logger: Logger,
  ) {}

  /** Queues a hint on `channel`; fields are merged with other pending hints of the channel. */
  notify(channel: string, hint: Hint): void {
    const fields = this.pending.get(channel) ?? new Map<string, Set<string>>();
    for (const [field, values] of Object.entries(hint)) {
      const set = fields.get(field) ?? new Set<string>();
      for (const v of values) set.add(v);
      fields.set(field, set);
    }
    this.pending.set(channel, fields);
    if (!this.flushing) void this.flush();
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.size > 0) {
        const batch = [...this.pending];
        this.pending.clear();
        // Every channel's hint in one statement: one round trip however many channels are pending.
        const values = batch.flatMap(([channel, fields]) => [channel, payloadOf(fields)]);
        const calls = batch.map((_, i) => `pg_notify($${2 * i + 1}, $${2 * i + 2})`).join(', ');
        try {
          await this.db.query(`SELECT ${calls}`, values);
        } catch (err) {
          // A lost hint costs latency only: every listener also polls.
          this.logger.debug({ err, channels: batch.map(([channel]) => channel) }, 'notify failed');
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}

function payloadOf(fields: Map<string, Set<string>>): string {
  const text = JSON.stringify(Object.fromEntries([...fields].map(([k, v]) => [k, [...v]])));
  return Buffer.byteLength(text) > MAX_PAYLOAD_BYTES ? JSON.stringify({ all: ['1'] }) : text;
}

/** Parses a hint payload; anything malformed reads as "poll everything". */
export function parseHint(payload: string): Record<string, string[]> {
  try {
    const value: unknown = JSON.parse(payload);
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const out: Record<string, string[]> = {};
      for (const [k, v] of Object.entries(value)) {
        if (Array.isArray(v)) out[k] = v.filter((x): x is string => typeof x === 'string');
      }
      return out;
    }
  } catch {
    // fall through: an unreadable hint is treated as a wake-up for everyone
  }
  return { all: ['1'] };
}
