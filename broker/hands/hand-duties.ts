import type { Duty } from '../duties/duty-runner.js';
import type { Notifier } from '../db/notifier.js';
import type { BrokerMetrics } from '../observability/broker-metrics.js';
import { countQueueAndRunning, sweepLeases, vacuumChurnedTables } from './lease-sql.js';
import { HANDS_CHANNEL, type HandService } from './hand-service.js';

/** Lock keys of the Hands duties (the foundation's are 7_230_00x). */
const KEYS = { leases: 7_230_010, vacuum: 7_230_011 } as const;

/** Dead rows in hand_queue or hand_running that make the vacuum duty vacuum it. */
const VACUUM_DEAD_ROWS = 500;

/**
 * The orchestrator duty of the Hands (B.14, B.16, B.75): once a second, expired leases are
 * requeued once and then end `worker_lost`, deadlines past their grace end `timeout`, and the
 * holder exports the queue gauges. Every 2 s, the queue tables are vacuumed once they churned.
 */
export function handDuties(options: {
  hands: HandService;
  notifier: Notifier;
  metrics: BrokerMetrics;
  graceS: number;
}): Duty[] {
  return [
    {
      name: 'hand-leases',
      key: KEYS.leases,
      intervalMs: 1000,
      run: async (db) => {
        await options.hands.seedLimits(db);
        const swept = await sweepLeases(db, options.graceS);
        options.hands.announceEnded(swept.ended);
        options.hands.announceRequeued(swept.requeued);
        if (swept.requeued.length > 0 || swept.ended.length > 0) {
          options.notifier.notify(HANDS_CHANNEL, {
            swept: [String(swept.requeued.length + swept.ended.length)],
          });
          options.hands.onHint();
        }
        const counts = await countQueueAndRunning(db);
        options.metrics.handQueueDepth.set(counts.queued);
        options.metrics.handRunning.set(counts.running);
      },
      released: () => {
        options.metrics.handQueueDepth.reset();
        options.metrics.handRunning.reset();
      },
    },
    {
      name: 'hand-vacuum',
      key: KEYS.vacuum,
      intervalMs: 2000,
      run: async (db) => {
        await vacuumChurnedTables(db, VACUUM_DEAD_ROWS);
      },
    },
  ];
}
