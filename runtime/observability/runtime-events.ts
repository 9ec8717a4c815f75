/**
 * What the runtime and the worker tell their metrics (STYLE rule 17): typed events from domain
 * code, turned into series by one module (`prometheus-metrics.ts`). Domain code holds a
 * `RuntimeMetrics` and never imports prom-client. Every label is bounded: aspect names, turn end
 * reasons, provider kinds and failure kinds, Hand statuses.
 */
import type { Usage } from '../../protocol/index.js';
import type { TurnEndReason } from '../loop/turn.js';
import type { Provider, ProviderFailure } from '../providers/provider.js';

export type RuntimeEvent =
  /** A deliberation turn ended (global and thread modes). */
  | { type: 'turn:ended'; aspect: string; reason: TurnEndReason; seconds: number }
  /** One request to an LLM provider answered or failed (each retry is a request of its own). */
  | {
      type: 'provider:requested';
      aspect: string;
      provider: Provider['kind'];
      outcome: 'ok' | ProviderFailure['kind'];
      seconds: number;
      /** The answer's model and usage, on success. */
      answer?: { model: string; usage: Usage };
    }
  /** A compaction was written to a session, automatic or forced. */
  | { type: 'session:compacted'; aspect: string }
  /** The worker finished a Hand run it reports (not one handed back or whose lease was lost). */
  | { type: 'hand:finished'; status: string; seconds: number };

/** The metrics seam of the runtime and the worker. */
export interface RuntimeMetrics {
  record(event: RuntimeEvent): void;
  /** Reads the aspect's context ratio (tokens ÷ window, the maximum over its sessions) at each scrape. */
  watchContextRatio(aspect: string, read: () => number): void;
}

/** Metrics that go nowhere: for a process run without them. */
export const NO_METRICS: RuntimeMetrics = { record: () => undefined, watchContextRatio: () => undefined };
