import type { WebSocket } from 'ws';
import type { Logger } from '../../platform/index.js';
import type { Queryable } from '../db/pool.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { RateLimiter } from '../auth/rate-limiter.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { MessageService } from '../bus/send.js';
import type { EventService } from '../events/event-service.js';
import type { ControlService } from '../control/control-service.js';
import type { BrokerMetrics } from '../observability/broker-metrics.js';

/** What sockets need from the rest of the broker. */
export interface HubDeps {
  db: Queryable;
  logger: Logger;
  metrics: BrokerMetrics;
  config: {
    heartbeatS: number;
    helloTimeoutS: number;
    wsWindow: number;
    pollMs: number;
    /** How often each replica checks its aspect sockets still hold their right (B.89). */
    revokePollMs: number;
  };
  authenticator: Authenticator;
  audit: AuditLog;
  messages: MessageService;
  events: EventService;
  control: ControlService;
  wsRate: RateLimiter;
  remoteAddress(ws: WebSocket): string;
}
