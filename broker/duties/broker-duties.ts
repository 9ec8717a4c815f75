import type { Duty } from './duty-runner.js';
import type { BrokerMetrics } from '../observability/broker-metrics.js';
import { countByStatus, sweepStaleness } from '../roster/roster-sql.js';
import { deleteOldEvents } from '../events/events-sql.js';
import type { Queryable } from '../db/pool.js';

/** Lock keys of the foundation's duties; later parts add theirs (7_230_0xx). */
const KEYS = { staleness: 7_230_001, metrics: 7_230_002, retention: 7_230_003 } as const;

async function deleteOldIdempotencyKeys(db: Queryable): Promise<void> {
  await db.query(`DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'`);
}

/** The foundation's duties: staleness of the roster, cluster-wide gauges, and retention. */
export function foundationDuties(options: {
  staleS: number;
  metrics: BrokerMetrics;
  eventRetentionS: number;
}): Duty[] {
  return [
    {
      name: 'staleness',
      key: KEYS.staleness,
      intervalMs: 1000,
      run: async (db) => void (await sweepStaleness(db, options.staleS)),
    },
    {
      name: 'metrics',
      key: KEYS.metrics,
      intervalMs: 5000,
      run: async (db) => {
        const counts = await countByStatus(db);
        for (const [status, n] of Object.entries(counts)) options.metrics.aspects.set({ status }, n);
      },
      released: () => options.metrics.aspects.reset(),
    },
    {
      name: 'retention',
      key: KEYS.retention,
      intervalMs: 60_000,
      run: async (db) => {
        await deleteOldIdempotencyKeys(db);
        await deleteOldEvents(db, options.eventRetentionS);
      },
    },
  ];
}
