/**
 * Alarms (SPEC section 3, B.27): timed `system` messages from their owner. Creation checks the
 * alarm against the send path once (so what a firing would be refused is refused now); the
 * orchestrator's alarm duty fires them (alarm-duty.ts).
 */
import type pg from 'pg';
import { WireError, type Alarm, type AlarmReply, type AlarmRequest } from '../../protocol/index.js';
import { withTransaction } from '../db/pool.js';
import { withDatabaseRetry } from '../db/retry.js';
import type { Principal } from '../auth/principal.js';
import type { AuditLog } from '../audit/audit-log.js';
import { refusalFromDatabase } from '../bus/send.js';
import { deleteAlarm, insertAlarm, listAlarms, readAlarmOwner, trySendOnce } from './alarms-sql.js';

export class AlarmService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly audit: AuditLog,
  ) {}

  /** The caller's address; workers have none and own no alarms (403, audited). */
  private ownerOf(caller: Principal, action: string): string {
    if (caller.address === null) {
      this.audit.denied(caller, action, null, { reason: 'worker tokens have no alarms' });
      throw new WireError('forbidden', 'worker tokens cannot use alarms');
    }
    return caller.address;
  }

  async create(caller: Principal, body: AlarmRequest): Promise<AlarmReply> {
    const alarm = {
      owner: this.ownerOf(caller, 'alarm.create'),
      ownerAdmin: caller.admin,
      to: body.to,
      content: body.content,
      threadId: body.thread_id ?? null,
      // Normalised here, so Postgres reads one format whatever offset the client wrote.
      at: body.at === undefined ? null : new Date(body.at).toISOString(),
      everyS: body.every_s ?? null,
    };
    try {
      return await withDatabaseRetry(() =>
        withTransaction(this.pool, async (tx) => {
          await trySendOnce(tx, alarm);
          return insertAlarm(tx, alarm);
        }),
      );
    } catch (err) {
      const refusal = refusalFromDatabase(err);
      if (refusal?.code === 'forbidden' || refusal?.code === 'stay_down')
        this.audit.denied(caller, 'alarm.create', body.thread_id ?? null, { reason: refusal.message });
      throw refusal ?? err;
    }
  }

  /** The caller's alarms; an admin sees every alarm (B.27). */
  async list(caller: Principal): Promise<Alarm[]> {
    const owner = this.ownerOf(caller, 'alarm.list');
    return withDatabaseRetry(() => listAlarms(this.pool, caller.admin ? null : owner));
  }

  /** Deletes an alarm: its owner or an admin (an admin's delete of another's alarm is audited). */
  async remove(caller: Principal, id: string): Promise<void> {
    const owner = await withDatabaseRetry(() => readAlarmOwner(this.pool, id));
    if (owner === null) throw new WireError('not_found', `alarm ${id} does not exist`);
    if (owner !== caller.address && !caller.admin) {
      this.audit.denied(caller, 'alarm.delete', id, { reason: 'not the owner' });
      throw new WireError('forbidden', `only the owner or an admin may delete alarm ${id}`);
    }
    if (!(await withDatabaseRetry(() => deleteAlarm(this.pool, id))))
      throw new WireError('not_found', `alarm ${id} does not exist`);
    if (owner !== caller.address) await this.audit.allowed(caller, 'alarm.delete', id, { owner });
  }
}
