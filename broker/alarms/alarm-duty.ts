import type { Logger } from '../../platform/index.js';
import type { Duty } from '../duties/duty-runner.js';
import type { DeliveryAnnouncer } from '../bus/send.js';
import type { BrokerMetrics } from '../observability/broker-metrics.js';
import { deleteOldAlarmRecords, dueAlarms, fireAlarm } from './alarms-sql.js';

/** Lock key of the alarm duty (the 7_230_0xx range of orchestrator duties). */
const ALARM_DUTY_KEY = 7_230_020;
/** Alarms fired per run at most; the rest wait for the next run, a second later. */
const BATCH = 100;
const CLEANUP_EVERY_MS = 60_000;

/**
 * The alarm duty (B.27): once a second, fires every due alarm, each in its own transaction, and
 * announces the messages after commit. Exactly once comes from the `(alarm_id, due_at)` row written
 * with the message; holding the duty on one replica only spares the others the work.
 */
export function alarmDuty(options: {
  announcer: DeliveryAnnouncer;
  metrics: BrokerMetrics;
  logger: Logger;
  intervalMs?: number;
}): Duty {
  let lastCleanup = 0;
  return {
    name: 'alarms',
    key: ALARM_DUTY_KEY,
    intervalMs: options.intervalMs ?? 1000,
    run: async (db) => {
      for (const id of await dueAlarms(db, BATCH)) {
        const firing = await fireAlarm(db, id);
        if (firing?.messageId && firing.threadId) {
          options.metrics.messagesTotal.inc({ kind: 'system' });
          options.announcer.announce({
            id: firing.messageId,
            threadId: firing.threadId,
            recipients: firing.recipients,
          });
        } else if (firing?.error) {
          options.logger.warn(
            { alarm: id, dueAt: firing.dueAt, error: firing.error },
            'alarm firing refused',
          );
        }
      }
      if (Date.now() - lastCleanup >= CLEANUP_EVERY_MS) {
        lastCleanup = Date.now();
        await deleteOldAlarmRecords(db);
      }
    },
  };
}
