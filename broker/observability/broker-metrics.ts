import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The broker's own series (SPEC section 10, B.42), registered on the process's registry. */
export function createBrokerMetrics(registry: Registry) {
  return {
    aspects: new Gauge({
      name: 'nexus_aspects',
      help: 'Aspects by roster status (exported by the replica holding the metrics duty)',
      labelNames: ['status'],
      registers: [registry],
    }),
    wsConnections: new Gauge({
      name: 'nexus_ws_connections',
      help: 'Open WebSocket connections on this replica',
      registers: [registry],
    }),
    messagesTotal: new Counter({
      name: 'nexus_messages_total',
      help: 'Messages persisted through this replica',
      labelNames: ['kind'],
      registers: [registry],
    }),
    deliverySeconds: new Histogram({
      name: 'nexus_message_delivery_seconds',
      help: 'From a message being persisted (database clock) to its push on a socket of this replica',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [registry],
    }),
    deliveriesTotal: new Counter({
      name: 'nexus_deliveries_total',
      help: 'Mailbox frames pushed by this replica',
      registers: [registry],
    }),
    httpRequests: new Counter({
      name: 'nexus_http_requests_total',
      help: 'HTTP requests by route and status class',
      labelNames: ['route', 'status'],
      registers: [registry],
    }),
    httpSeconds: new Histogram({
      name: 'nexus_http_request_seconds',
      help: 'HTTP request duration',
      labelNames: ['route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2, 10],
      registers: [registry],
    }),
    handQueueDepth: new Gauge({
      name: 'nexus_hand_queue_depth',
      help: 'Queued Hand dispatches (exported by the replica holding the hand-leases duty)',
      registers: [registry],
    }),
    handRunning: new Gauge({
      name: 'nexus_hand_running',
      help: 'Running Hand dispatches (exported by the replica holding the hand-leases duty)',
      registers: [registry],
    }),
    handWaitSeconds: new Histogram({
      name: 'nexus_hand_wait_seconds',
      help: 'From a dispatch being queued to its claim by a worker through this replica',
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
      registers: [registry],
    }),
    handResultsTotal: new Counter({
      name: 'nexus_hand_results_total',
      help: 'Dispatch results by status, refusals included, counted by the replica that ended them',
      labelNames: ['status'],
      registers: [registry],
    }),
    dutyHeld: new Gauge({
      name: 'nexus_duty_held',
      help: 'Orchestrator duties held by this replica (1 held, 0 not)',
      labelNames: ['duty'],
      registers: [registry],
    }),
  };
}

export type BrokerMetrics = ReturnType<typeof createBrokerMetrics>;
