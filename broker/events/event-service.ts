import { WireError, type PublishFrame } from '../../protocol/index.js';
import type { z } from 'zod';
import type { Queryable } from '../db/pool.js';
import type { Notifier } from '../db/notifier.js';
import type { Principal } from '../auth/principal.js';
import type { AuditLog } from '../audit/audit-log.js';
import { insertEvent, insertEvents } from './events-sql.js';

/** An event the broker itself raises (dispatch transitions, B.7), attributed to an aspect. */
export interface BrokerEvent {
  aspect: string;
  kind: string;
  threadId: string | null;
  data: Record<string, unknown>;
}

/** Stores observability events runtimes publish and hints other replicas to forward them. */
export class EventService {
  constructor(
    private readonly db: Queryable,
    private readonly notifier: Notifier,
    private readonly audit: AuditLog,
  ) {}

  private pending: (BrokerEvent & { ts: string })[] = [];
  private flushing = false;

  /**
   * Records broker events after the transition they describe has committed, batched into one
   * insert: an event is observability, so a failure costs the event, never the transition.
   */
  recordLater(events: BrokerEvent[]): void {
    const ts = new Date().toISOString();
    for (const e of events) this.pending.push({ ...e, ts });
    if (!this.flushing) void this.flush();
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, 1000);
        try {
          const ids = await insertEvents(this.db, batch);
          this.notifier.notify('nexus_events', { ids });
        } catch {
          // Dropped: see recordLater. The database being away is reported by /readyz.
        }
      }
    } finally {
      this.flushing = false;
    }
  }

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
