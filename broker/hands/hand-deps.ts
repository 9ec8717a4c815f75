/**
 * What the Hands services are built from, in a module of its own so the dispatcher's side
 * (hand-service.ts) and the worker's side (worker-leases.ts) both use it without importing each
 * other (STYLE 25).
 */
import type pg from 'pg';
import type { Logger } from '../../platform/index.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Notifier } from '../db/notifier.js';
import type { HandSettings } from '../config.js';
import type { DeliveryAnnouncer } from '../bus/send.js';
import type { BrokerMetrics } from '../observability/broker-metrics.js';
import type { EventService } from '../events/event-service.js';

export interface HandServiceDeps {
  db: pg.Pool;
  announcer: DeliveryAnnouncer;
  notifier: Notifier;
  audit: AuditLog;
  metrics: BrokerMetrics;
  events: EventService;
  logger: Logger;
  settings: HandSettings;
}
