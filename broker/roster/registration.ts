import pg from 'pg';
import {
  BROKER_SENDER,
  RESERVED_NAME_MESSAGE,
  WireError,
  type DeregisterRequest,
  type HeartbeatRequest,
  type RegisterReply,
  type RegisterRequest,
} from '../../protocol/index.js';
import { withTransaction } from '../db/pool.js';
import { withDatabaseRetry } from '../db/retry.js';
import type { Principal } from '../auth/principal.js';
import type { AuditLog } from '../audit/audit-log.js';
import {
  instanceMismatchReason,
  lockAspect,
  markDown,
  readNexusInstance,
  recordHeartbeat,
  upsertRegistration,
} from './roster-sql.js';

/** How registration changes reach sockets on every replica (B.3, B.15). */
export interface SocketControl {
  /** A new instance registered: sockets of any other instance of `aspect` close with 4409. */
  instanceRegistered(aspect: string, instanceId: string): void;
}

export interface RosterTiming {
  heartbeatS: number;
  staleS: number;
}

/** Register, heartbeat and deregister: the live-roster half of SPEC section 3. */
export class RegistrationService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly sockets: SocketControl,
    private readonly audit: AuditLog,
    private readonly timing: RosterTiming,
  ) {}

  async register(caller: Principal, body: RegisterRequest): Promise<RegisterReply> {
    this.requireAspectCaller(caller, 'aspect.register', 'only an aspect token may register');
    // Checked here too: a token minted for the name before it was reserved cannot take it (B.84).
    if (body.name === BROKER_SENDER) throw new WireError('invalid_request', `name: ${RESERVED_NAME_MESSAGE}`);
    if (body.name !== caller.name) {
      this.audit.denied(caller, 'aspect.register', body.name, { reason: 'identity_mismatch' });
      throw new WireError('identity_mismatch', `name: must be the token's aspect (${caller.name})`);
    }
    if (body.role === 'frame' && !caller.admin) {
      this.audit.denied(caller, 'aspect.register', body.name, {
        reason: 'frame needs an admin-scoped token',
      });
      throw new WireError('forbidden', 'role: "frame" needs an admin-scoped aspect token');
    }
    const {
      instance_id,
      pid: _pid,
      started_at: _started,
      runtime_version: _version,
      identity,
      script,
      ...config
    } = body;
    const previous = await withDatabaseRetry(() =>
      withTransaction(this.pool, async (tx) => {
        const row = await lockAspect(tx, body.name);
        if (row?.stay_down)
          throw new WireError('stay_down', `${body.name} is shut down (stay-down) until an admin clears it`);
        if (row && row.status === 'live' && row.instance_id !== instance_id) {
          throw new WireError(
            'name_in_use',
            `${body.name} has a live instance; a second one cannot register`,
          );
        }
        try {
          await upsertRegistration(tx, {
            name: body.name,
            role: body.role,
            instanceId: instance_id,
            config,
            identity,
            script,
          });
        } catch (err) {
          if ((err as { constraint?: string }).constraint === 'aspects_one_frame') {
            throw new WireError('conflict', 'another frame is already registered');
          }
          throw err;
        }
        return { row, nexusInstance: await readNexusInstance(tx) };
      }),
    ).catch((err: unknown) => {
      if (err instanceof WireError && err.code === 'stay_down')
        this.audit.denied(caller, 'aspect.register', body.name, { reason: 'stay_down' });
      throw err;
    });
    if (previous.row?.instance_id && previous.row.instance_id !== instance_id) {
      this.sockets.instanceRegistered(body.name, instance_id);
    }
    return {
      status: 'registered',
      heartbeat_interval_s: this.timing.heartbeatS,
      stale_after_s: this.timing.staleS,
      nexus_instance: previous.nexusInstance,
    };
  }

  async heartbeat(caller: Principal, body: HeartbeatRequest): Promise<void> {
    this.requireAspectCaller(caller, 'aspect.heartbeat', 'only an aspect token may send heartbeats');
    const ok = await withDatabaseRetry(() =>
      recordHeartbeat(this.pool, caller.name, body.instance_id, body.stats),
    );
    if (!ok) {
      const reason = await withDatabaseRetry(() => instanceMismatchReason(this.pool, caller.name));
      throw new WireError('conflict', `heartbeat refused: ${reason.replace('_', ' ')}`, { reason });
    }
  }

  async deregister(caller: Principal, body: DeregisterRequest): Promise<void> {
    this.requireAspectCaller(caller, 'aspect.deregister', 'only an aspect token may deregister');
    const ok = await withDatabaseRetry(() => markDown(this.pool, caller.name, body.instance_id));
    if (!ok) {
      const reason = await withDatabaseRetry(() => instanceMismatchReason(this.pool, caller.name));
      throw new WireError('conflict', `deregister refused: ${reason.replace('_', ' ')}`, { reason });
    }
  }

  /** Only aspect tokens act on the roster; any other caller is refused, and the refusal audited (B.7). */
  private requireAspectCaller(caller: Principal, action: string, message: string): void {
    if (caller.kind === 'aspect') return;
    this.audit.denied(caller, action, null, { reason: 'not an aspect token' });
    throw new WireError('forbidden', message);
  }
}
