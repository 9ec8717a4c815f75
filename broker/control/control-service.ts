/**
 * Session control across replicas (B.12, B.48). An admin call becomes a `control_requests` row and
 * a hint; the replica holding the aspect's socket forwards it as a `control` frame and marks it
 * delivered; the runtime's `control.result` finishes the row on whichever replica it reaches. The
 * caller waits up to `wait_s` for the outcome (200), else gets `202 pending`. Nobody delivers it
 * within the delivery window: `409 not_connected`. Waiters poll the row, so lost hints cost latency.
 * A fork also has a broker half (fork.ts): a reserved thread id before, the thread and the seed
 * message after, committed with the result.
 */
import type pg from 'pg';
import type { z } from 'zod';
import {
  ErrorCode,
  WireError,
  type ControlAction,
  type ControlState,
  type ForkRequest,
} from '../../protocol/index.js';
import { withTransaction } from '../db/pool.js';
import { withDatabaseRetry } from '../db/retry.js';
import type { Notifier } from '../db/notifier.js';
import type { Principal } from '../auth/principal.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { MessageService } from '../bus/send.js';
import {
  failUndelivered,
  finishControlRequest,
  insertControlRequest,
  lockPendingControlRequest,
  readControlRequest,
  toControlState,
  type ControlRow,
} from './control-sql.js';
import { completeFork, prepareFork } from './fork.js';

export const CONTROL_CHANNEL = 'nexus_control';
const DELIVERY_WINDOW_MS = 2000;
const POLL_MS = 100;

export type ControlReply =
  { status: 200; body: unknown } | { status: 202; body: { request_id: string; state: 'pending' } };

export class ControlService {
  private readonly wakers = new Map<string, Set<() => void>>();

  constructor(
    private readonly db: pg.Pool,
    private readonly notifier: Notifier,
    private readonly audit: AuditLog,
    /** Forwards at once when this replica holds the socket (saves a NOTIFY round trip). */
    private readonly forwardLocally: (ids: string[]) => void,
    /** Sends a fork's seed message (B.50). */
    private readonly messages: MessageService,
  ) {}

  /** A fork (B.20): the thread-mode checks and reservation, then an ordinary control request. */
  async fork(
    caller: Principal,
    aspect: string,
    body: z.infer<typeof ForkRequest>,
    waitS: number,
  ): Promise<ControlReply> {
    const params = await withDatabaseRetry(() => prepareFork(this.db, aspect, body));
    return this.request(caller, aspect, 'fork', params, waitS);
  }

  async request(
    caller: Principal,
    aspect: string,
    action: ControlAction,
    params: unknown,
    waitS: number,
  ): Promise<ControlReply> {
    const id = await withDatabaseRetry(() =>
      insertControlRequest(this.db, { aspect, action, params, requestedBy: caller.actor }),
    );
    // An unknown name is not an aspect without a socket (409 not_connected): say it is unknown.
    if (id === null) throw new WireError('not_found', `no aspect named ${aspect} has registered`);
    await this.audit.allowed(caller, `control.${action}`, aspect, { request_id: id });
    this.forwardLocally([id]);
    this.notifier.notify(CONTROL_CHANNEL, { ids: [id] });

    const delivered = await this.waitFor(
      id,
      DELIVERY_WINDOW_MS,
      (row) => row.delivered_at !== null || row.state !== 'pending',
    );
    const undelivered = !delivered || (delivered.delivered_at === null && delivered.state === 'pending');
    // Failed only if still undelivered: a replica that delivered it at the last moment wins.
    if (undelivered && (await failUndelivered(this.db, id, { code: 'not_connected', message: 'no socket' })))
      throw new WireError('not_connected', `${aspect} has no open socket to take control requests`);
    const finished = await this.waitFor(id, waitS * 1000, (row) => row.state !== 'pending');
    if (!finished || finished.state === 'pending')
      return { status: 202, body: { request_id: id, state: 'pending' } };
    if (finished.state === 'failed') throw runtimeError(finished);
    return { status: 200, body: finished.result };
  }

  async state(aspect: string, id: string): Promise<ControlState> {
    const row = await withDatabaseRetry(() => readControlRequest(this.db, id));
    if (!row || row.aspect !== aspect)
      throw new WireError('not_found', `control request ${id} of ${aspect} does not exist`);
    return toControlState(row);
  }

  /**
   * Records a runtime's `control.result`; only the aspect the request was for may answer it. A
   * successful fork's thread and seed commit in the same transaction, so they exist exactly when the
   * result does.
   */
  async finish(
    aspect: string,
    id: string,
    outcome: { ok: true; result: unknown } | { ok: false; error: { code: string; message: string } },
  ): Promise<void> {
    const announce = await withDatabaseRetry(() =>
      withTransaction(this.db, async (tx) => {
        const row = await lockPendingControlRequest(tx, id, aspect);
        if (!row)
          throw new WireError(
            'not_found',
            `request_id: no control request ${id} awaits a result from ${aspect}`,
          );
        if (!outcome.ok || row.action !== 'fork') {
          await finishControlRequest(tx, id, aspect, outcome);
          return null;
        }
        const forked = await completeFork(tx, row, outcome.result, this.messages);
        await finishControlRequest(tx, id, aspect, { ok: true, result: forked.result });
        return forked.announce;
      }),
    );
    announce?.();
    this.wake(id);
    this.notifier.notify(CONTROL_CHANNEL, { done: [id] });
  }

  /** Wakes local waiters of the given ids (from a `nexus_control` hint). */
  wake(id: string): void {
    for (const waker of this.wakers.get(id) ?? []) waker();
  }

  private async waitFor(
    id: string,
    timeoutMs: number,
    done: (row: ControlRow) => boolean,
  ): Promise<ControlRow | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const row = await withDatabaseRetry(() => readControlRequest(this.db, id));
      if (!row || done(row) || Date.now() >= deadline) return row;
      await new Promise<void>((resolve) => {
        const wakers = this.wakers.get(id) ?? new Set();
        const finish = () => {
          clearTimeout(timer);
          wakers.delete(finish);
          if (wakers.size === 0) this.wakers.delete(id);
          resolve();
        };
        const timer = setTimeout(finish, Math.min(POLL_MS, Math.max(1, deadline - Date.now())));
        wakers.add(finish);
        this.wakers.set(id, wakers);
      });
    }
  }
}

/** A runtime's refusal as a wire error; codes outside the spec's list become `conflict`. */
function runtimeError(row: ControlRow): WireError {
  const code = ErrorCode.safeParse(row.error?.code);
  return new WireError(
    code.success ? code.data : 'conflict',
    row.error?.message ?? 'the runtime refused the request',
  );
}
