/** What every way of ending a dispatch shares: the envelope, and announcing the result. */
import type { HandStatus, ResultEnvelope } from '../../protocol/index.js';
import type { DeliveryAnnouncer } from '../bus/send.js';
import type { EventService } from '../events/event-service.js';
import type { BrokerMetrics } from '../observability/broker-metrics.js';
import type { EndedDispatch } from './dispatch-sql.js';
import type { RequeuedDispatch } from './lease-sql.js';

/** Claimers wake on this channel: something was queued or a running slot was freed. */
export const HANDS_CHANNEL = 'nexus_hands';

export const NO_USAGE = { input_tokens: 0, output_tokens: 0, cost_usd: 0 };

export function envelope(
  status: HandStatus,
  summary: string,
  extra: Partial<ResultEnvelope> = {},
): ResultEnvelope {
  return { status, summary, artifacts: [], usage: NO_USAGE, ...extra };
}

export interface ResultDeps {
  announcer: DeliveryAnnouncer;
  metrics: BrokerMetrics;
  events: EventService;
}

/** Delivers the `hand_result` messages of dispatches that just ended, counts and records them. */
export function announceEnded(deps: ResultDeps, ended: EndedDispatch[]): void {
  for (const e of ended) {
    deps.metrics.handResultsTotal.inc({ status: e.status });
    deps.announcer.announce({ id: e.message_id, threadId: e.thread_id, recipients: e.recipients });
  }
  deps.events.recordLater(
    ended.map((e) => ({
      aspect: e.target,
      kind: 'hand.finished',
      threadId: e.thread_id,
      data: { dispatch_id: e.dispatch_id, hand: e.hand, status: e.status, result_message_id: e.message_id },
    })),
  );
}

/** Records dispatches that went back to the queue (running → queued): a lease that expired or a release. */
export function announceRequeued(
  deps: Pick<ResultDeps, 'events'>,
  requeued: RequeuedDispatch[],
  reason: 'lease_expired' | 'released',
): void {
  deps.events.recordLater(
    requeued.map((r) => ({
      aspect: r.target,
      kind: 'hand.requeued',
      threadId: r.thread_id,
      data: { dispatch_id: r.dispatch_id, hand: r.hand, attempt: r.attempt, reason },
    })),
  );
}
