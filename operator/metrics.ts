/**
 * The operator's series (SPEC section 10, B.31, B.85), on the process's own registry:
 * - `nexus_operator_reconcile_seconds` and `nexus_operator_reconcile_errors_total` (section 10);
 * - `nexus_operator_reconcile_total{result}`: `ok`, `requeue` (ok, look again later), `error`;
 * - `nexus_operator_queue_depth`: Aspects waiting for a worker;
 * - `nexus_operator_leader`: 1 while this replica holds the Lease;
 * - `nexus_operator_kube_requests_total{verb,code}`: every request to the API server but watches,
 *   `code` the HTTP status or `error` (what B.64's write budget and "no hot loop" are read from);
 * - `nexus_operator_informer_restarts_total{kind}`: informers restarted after an error;
 * - `nexus_operator_broker_errors_total`: broker calls that found it unavailable;
 * - `nexus_operator_events_dropped_total`: Kubernetes Events dropped because their budget was spent.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface OperatorMetrics {
  reconciled(result: 'ok' | 'requeue' | 'error', seconds: number): void;
  kubeRequest(verb: string, code: string): void;
  informerRestarted(kind: string): void;
  brokerUnavailable(): void;
  eventDropped(): void;
  setLeader(leading: boolean): void;
  /** Where the queue depth is read at scrape time. */
  readQueueDepth(read: () => number): void;
}

export function createOperatorMetrics(registry: Registry): OperatorMetrics {
  const registers = [registry];
  const seconds = new Histogram({
    name: 'nexus_operator_reconcile_seconds',
    help: 'Duration of one reconcile of one Aspect, observation included',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const total = new Counter({
    name: 'nexus_operator_reconcile_total',
    help: 'Reconciles by result: ok, requeue (ok, look again later) or error (retried with backoff)',
    labelNames: ['result'],
    registers,
  });
  const errors = new Counter({
    name: 'nexus_operator_reconcile_errors_total',
    help: 'Reconciles that failed and were requeued with backoff',
    registers,
  });
  const requests = new Counter({
    name: 'nexus_operator_kube_requests_total',
    help: 'Requests to the Kubernetes API server (watches excepted) by verb and HTTP status',
    labelNames: ['verb', 'code'],
    registers,
  });
  const restarts = new Counter({
    name: 'nexus_operator_informer_restarts_total',
    help: 'Informers restarted after they stopped on an error',
    labelNames: ['kind'],
    registers,
  });
  const brokerErrors = new Counter({
    name: 'nexus_operator_broker_errors_total',
    help: 'Observations of an Aspect that found the broker unavailable',
    registers,
  });
  const eventsDropped = new Counter({
    name: 'nexus_operator_events_dropped_total',
    help: 'Kubernetes Events dropped, not written, because their rate budget was spent',
    registers,
  });
  const leader = new Gauge({
    name: 'nexus_operator_leader',
    help: '1 while this replica holds the operator Lease, else 0',
    registers,
  });
  leader.set(0);
  let depth: () => number = () => 0;
  new Gauge({
    name: 'nexus_operator_queue_depth',
    help: 'Aspects waiting for a reconcile worker',
    registers,
    collect() {
      this.set(depth());
    },
  });
  for (const result of ['ok', 'requeue', 'error']) total.inc({ result }, 0);

  return {
    reconciled(result, s) {
      seconds.observe(s);
      total.inc({ result });
      if (result === 'error') errors.inc();
    },
    kubeRequest: (verb, code) => requests.inc({ verb, code }),
    informerRestarted: (kind) => restarts.inc({ kind }),
    brokerUnavailable: () => brokerErrors.inc(),
    eventDropped: () => eventsDropped.inc(),
    setLeader: (leading) => leader.set(leading ? 1 : 0),
    readQueueDepth(read) {
      depth = read;
    },
  };
}
