import { WireError, type PublishFrame } from '../../protocol/index.js';
import type { z } from 'zod';
import type { Queryable } from '../db/pool.js';
import type { Notifier } from '../db/notifier.js';
import type { Principal } from '../auth/principal.js';
import type { AuditLog } from '../audit/audit-log.js';
import { insertEvent } from './events-sql.js';

/** Stores observability events runtimes publish and hints other replicas to forward them. */
export class EventService {
  constructor(
    private readonly db: Queryable,
    private readonly notifier: Notifier,
    private readonly audit: AuditLog,
  ) {}

  async publish(caller: Principal, event: z.infer<typeof PublishFrame>['event']): Promise<void> {
    if (caller.kind !== 'aspect') {
      this.audit.denied(caller, 'event.publish', null, { reason: 'not an aspect token' });
      throw new WireError('forbidden', 'only aspect tokens publish events');
    }
    const id = await insertEvent(this.db, {
      aspect: caller.name,
      kind: event.kind,
      ts: event.ts,
      threadId: event.thread_id ?? null,
      data: event.data,
    });
    this.notifier.notify('nexus_events', { ids: [id] });
  }
}
