/**
 * Hands at the broker, the dispatcher's side (SPEC section 6, B.11, B.15, B.16, B.76, B.77):
 * dispatch with its immediate refusals, state, abort, stay-down, the limits row and the queue.
 * The worker's side (claims, leases, completions) is worker-leases.ts.
 */
import {
  HandDeclaration,
  MAX_DEADLINE_S,
  WireError,
  inputSchemaProblem,
  type AbortReply,
  type DispatchInfo,
  type DispatchReply,
  type DispatchRequest,
  type LimitsReply,
  type QueueReply,
  type ResultEnvelope,
} from '../../protocol/index.js';
import type { Principal } from '../auth/principal.js';
import { withDatabaseRetry } from '../db/retry.js';
import { refusalFromDatabase } from '../bus/send.js';
import { bodyHash } from '../bus/canonical-json.js';
import * as sql from './dispatch-sql.js';
import { HANDS_CHANNEL, announceEnded, announceRequeued, envelope } from './results.js';
import type { RequeuedDispatch } from './lease-sql.js';

export { HANDS_CHANNEL };
import { WorkerLeases } from './worker-leases.js';
import type { HandServiceDeps } from './hand-deps.js';

export type { HandServiceDeps };

function stayDown(target: string): ResultEnvelope {
  return envelope('aborted', `${target} is shut down (stay-down)`, { detail: { reason: 'stay_down' } });
}

function queuedReply(queued: { dispatch_id: string; thread_id: string; message_id: string }): DispatchReply {
  return {
    dispatch_id: queued.dispatch_id,
    state: 'queued',
    thread_id: queued.thread_id,
    message_id: queued.message_id,
  };
}

export class HandService {
  /** The worker side: claims, leases and completions. */
  readonly workers: WorkerLeases;

  constructor(private readonly deps: HandServiceDeps) {
    this.workers = new WorkerLeases(deps);
  }

  async start(): Promise<void> {
    this.workers.start();
    await this.seedLimits(this.deps.db);
  }

  private seeded = false;

  /**
   * Seeds the limits row from HAND_SOFT_CAP / HAND_HARD_CAP when the table is empty (B.76). Tried
   * at start and again by the lease duty until it succeeds, so a database that was away at start
   * does not leave the claim on its built-in default.
   */
  async seedLimits(db: sql.Queryable): Promise<void> {
    if (this.seeded) return;
    try {
      await sql.seedLimits(db, this.deps.settings.softCap, this.deps.settings.hardCap);
      this.seeded = true;
    } catch (err) {
      this.deps.logger.warn({ err }, 'could not seed the Hand limits yet; will retry');
    }
  }

  stop(): void {
    this.workers.stop();
  }

  /** A hint from any replica: the queue or the running set changed. */
  onHint(): void {
    this.workers.kick();
  }

  async dispatch(
    caller: Principal,
    request: DispatchRequest,
  ): Promise<{ status: number; reply: DispatchReply }> {
    if (caller.address === null) {
      this.deps.audit.denied(caller, 'hand.dispatch', request.target, {
        reason: 'worker tokens cannot dispatch',
      });
      throw new WireError('forbidden', 'worker tokens cannot dispatch Hands');
    }
    const refuse = (result: ResultEnvelope) => {
      this.deps.metrics.handResultsTotal.inc({ status: result.status });
      return {
        status: 200,
        reply: {
          dispatch_id: null,
          state: 'rejected' as const,
          thread_id: request.thread_id ?? null,
          result,
        },
      };
    };
    // A repeat answers as the first time did, whatever the refusal checks would say now (B.77).
    const repeat = await this.repeated(caller.address, request);
    if (repeat) return { status: 200, reply: repeat };
    const checked = await this.check(caller, request);
    if ('status' in checked) return refuse(checked);
    const { hand, targetConcurrency } = checked;
    const { idempotency_key: key, ...body } = request;
    let queued: sql.QueueOutcome;
    try {
      queued = await withDatabaseRetry(() =>
        sql.queueDispatch(this.deps.db, {
          sender: caller.address as string,
          admin: caller.admin,
          threadId: request.thread_id ?? null,
          target: request.target,
          hand: request.hand,
          content: request.content,
          input: request.input,
          traceparent: request.traceparent ?? null,
          // A namespace of its own, so a dispatch key never collides with a message key (B.77).
          idempotencyKey: key === undefined ? null : `hand:${key}`,
          bodyHash: key === undefined ? '' : bodyHash(body),
          queueLimit: this.deps.settings.queueLimit,
          deadlineS: Math.min(request.deadline_s ?? hand.timeout_s, MAX_DEADLINE_S),
          handDefinition: hand,
          handConcurrency: hand.concurrency,
          targetConcurrency,
        }),
      );
    } catch (err) {
      const refusal = refusalFromDatabase(err);
      // A dispatch is a message to its target: comms.send_to applies, and a refusal is an
      // envelope like every other refusal of a dispatch (SPEC section 6, Appendix A).
      if (refusal && isCommsRefusal(refusal)) {
        this.deps.audit.denied(caller, 'hand.dispatch', `${request.target}/${request.hand}`, {
          reason: 'comms.send_to',
        });
        return refuse(envelope('forbidden', refusal.message));
      }
      throw refusal ?? err;
    }
    switch (queued.outcome) {
      case 'stay_down':
        // Seen under the share lock: a shutdown racing this dispatch (B.15).
        return refuse(stayDown(request.target));
      case 'busy':
        return refuse(this.busy(request, queued.retry_after_s));
      case 'key_used':
        throw new WireError('conflict', 'idempotency_key was already used for a message');
      case 'repeated':
        // The key's first dispatch committed after the check above (nexus_dispatch rechecks under a lock).
        return { status: 200, reply: queuedReply(queued) };
      case 'queued':
        break;
      default:
        throw new Error(`nexus_dispatch answered an unknown outcome: ${JSON.stringify(queued)}`);
    }
    this.deps.announcer.announce({
      id: queued.message_id,
      threadId: queued.thread_id,
      recipients: [request.target],
    });
    this.deps.notifier.notify(HANDS_CHANNEL, { queued: [queued.dispatch_id] });
    this.deps.events.recordLater([
      {
        aspect: request.target,
        kind: 'hand.queued',
        threadId: queued.thread_id,
        data: { dispatch_id: queued.dispatch_id, hand: request.hand, dispatcher: caller.address },
      },
    ]);
    this.workers.kick();
    return { status: 202, reply: queuedReply(queued) };
  }

  /** The first reply for this sender's idempotency key, if there was one; 409 for another body. */
  private async repeated(sender: string, request: DispatchRequest): Promise<DispatchReply | null> {
    const { idempotency_key: key, ...body } = request;
    if (key === undefined) return null;
    const prior = await withDatabaseRetry(() => sql.priorDispatch(this.deps.db, sender, `hand:${key}`));
    if (!prior) return null;
    if (prior.body_hash !== bodyHash(body))
      throw new WireError('conflict', 'idempotency_key was already used with a different body');
    const first = await withDatabaseRetry(() => sql.dispatchForMessage(this.deps.db, prior.message_id));
    if (!first) return null;
    return {
      dispatch_id: first.id,
      state: 'queued',
      thread_id: first.thread_id,
      message_id: prior.message_id,
    };
  }

  /** The refusals that need no transaction (SPEC section 6, B.15, B.16). */
  private async check(
    caller: Principal,
    request: DispatchRequest,
  ): Promise<ResultEnvelope | { hand: HandDeclaration; targetConcurrency: number }> {
    const target = await withDatabaseRetry(() => sql.readTarget(this.deps.db, request.target));
    if (!target?.config || !target.registered_at)
      return envelope('unknown_hand', `${request.target} is not a registered aspect`, {
        detail: { reason: 'unknown aspect', available: [] },
      });
    if (target.stay_down) return stayDown(request.target);
    const hands = HandDeclaration.array().safeParse(target.config.hands ?? []);
    const declared = hands.success ? hands.data : [];
    const hand = declared.find((h) => h.name === request.hand);
    if (!hand)
      return envelope('unknown_hand', `${request.target} offers no Hand named ${request.hand}`, {
        detail: { available: declared.map((h) => h.name) },
      });
    // Operators may invoke any Hand; aspects only those that list them (or "*").
    if (
      !caller.admin &&
      !hand.allowed_invokers.includes('*') &&
      !hand.allowed_invokers.includes(caller.name)
    ) {
      this.deps.audit.denied(caller, 'hand.dispatch', `${request.target}/${request.hand}`, {
        reason: 'not in allowed_invokers',
      });
      return envelope('forbidden', `${caller.name} may not invoke ${request.target}/${request.hand}`);
    }
    if (hand.input_schema) {
      const problem = inputSchemaProblem(hand.input_schema, request.input);
      if (problem) return envelope('invalid_input', problem, { error: problem });
    }
    const targetConcurrency = Number(target.config.hand_concurrency ?? 2);
    return { hand, targetConcurrency };
  }

  private busy(request: DispatchRequest, remainingS: number | null): ResultEnvelope {
    return envelope(
      'busy',
      `${request.target}/${request.hand} already has ${this.deps.settings.queueLimit} queued`,
      { detail: { retry_after_s: Math.max(1, Math.ceil(remainingS ?? 1)) } },
    );
  }

  async read(caller: Principal, id: string): Promise<DispatchInfo> {
    const row = await withDatabaseRetry(() => sql.readDispatch(this.deps.db, id));
    if (!row) throw new WireError('not_found', `dispatch ${id} does not exist`);
    const involved = caller.admin || caller.address === row.dispatcher || caller.address === row.target;
    if (!involved) {
      this.deps.audit.denied(caller, 'hand.read', id, { reason: 'neither dispatcher nor target' });
      throw new WireError('forbidden', `only the dispatcher, the target or an admin may read dispatch ${id}`);
    }
    return toInfo(row);
  }

  /** Queued: ends at once. Running: ends at the worker's next heartbeat (SPEC section 6, B.16). */
  async abort(caller: Principal, id: string): Promise<AbortReply> {
    const row = await withDatabaseRetry(() => sql.readDispatch(this.deps.db, id));
    if (!row) throw new WireError('not_found', `dispatch ${id} does not exist`);
    if (!caller.admin && caller.address !== row.dispatcher) {
      this.deps.audit.denied(caller, 'hand.abort', id, { reason: 'not the dispatcher' });
      throw new WireError('forbidden', `only the dispatcher or an admin may abort dispatch ${id}`);
    }
    const result = envelope('aborted', `aborted by ${caller.address ?? caller.actor}`);
    const ended = await withDatabaseRetry(() => sql.endQueued(this.deps.db, { dispatchId: id }, result));
    void this.deps.audit.record({
      actor: caller.actor,
      tokenId: caller.tokenId,
      action: 'hand.abort',
      target: id,
      outcome: 'allowed',
      details: {},
    });
    if (ended.length > 0) {
      this.announceEnded(ended);
      return { state: 'done', result };
    }
    if (await withDatabaseRetry(() => sql.requestAbort(this.deps.db, id))) return { state: 'running' };
    const now = await withDatabaseRetry(() => sql.readDispatch(this.deps.db, id));
    if (now?.state === 'queued' || now?.state === 'running') return this.abort(caller, id); // moved meanwhile
    throw new WireError('conflict', `dispatch ${id} is already done`);
  }

  /** Stay-down ends the queued dispatches that target the aspect (B.15); returns how many. */
  async abortQueuedFor(target: string): Promise<number> {
    const result = envelope('aborted', `${target} was shut down (stay-down)`, {
      detail: { reason: 'stay_down' },
    });
    const ended = await withDatabaseRetry(() => sql.endQueued(this.deps.db, { target }, result));
    this.announceEnded(ended);
    return ended.length;
  }

  async limits(): Promise<LimitsReply> {
    const row = await withDatabaseRetry(() => sql.readLimits(this.deps.db, this.deps.settings.softCap));
    return {
      n: row.n,
      h: row.h_effective,
      h_default: row.h === null,
      queued: row.queued,
      running: row.running,
    };
  }

  async setLimits(caller: Principal, change: { n?: number; h?: number | null }): Promise<LimitsReply> {
    await withDatabaseRetry(() => sql.writeLimits(this.deps.db, change, this.deps.settings.softCap));
    await this.deps.audit.allowed(caller, 'hand.limits', null, { ...change });
    this.deps.notifier.notify(HANDS_CHANNEL, { limits: ['changed'] });
    this.workers.kick();
    return this.limits();
  }

  async queue(target: string | null, limit: number): Promise<QueueReply> {
    const [limits, counts, rows] = await Promise.all([
      this.limits(),
      withDatabaseRetry(() => sql.queueCounts(this.deps.db)),
      withDatabaseRetry(() => sql.listQueue(this.deps.db, target, limit)),
    ]);
    return {
      n: limits.n,
      h: limits.h,
      running: limits.running,
      queued: limits.queued,
      ...counts,
      dispatches: rows.map((r) => ({
        id: r.id,
        state: r.state,
        target: r.target,
        hand: r.hand,
        dispatcher: r.dispatcher,
        attempt: r.attempt,
        submitted_at: r.submitted_at.toISOString(),
        ...(r.started_at ? { started_at: r.started_at.toISOString() } : {}),
        ...(r.worker_id ? { worker_id: r.worker_id } : {}),
      })),
    };
  }

  /** Dispatches the lease duty put back in the queue after their first lost lease. */
  announceRequeued(requeued: RequeuedDispatch[]): void {
    announceRequeued(this.deps, requeued, 'lease_expired');
  }

  /** Delivers the `hand_result` messages of dispatches that just ended, counts and records them. */
  announceEnded(ended: sql.EndedDispatch[]): void {
    announceEnded(this.deps, ended);
  }
}

/** Whether `nexus_send` refused because the sender's comms.send_to does not name a recipient. */
function isCommsRefusal(refusal: WireError): boolean {
  const details = refusal.details as { reason?: unknown } | undefined;
  return refusal.code === 'forbidden' && details?.reason === 'comms.send_to';
}

function toInfo(row: sql.DispatchRow): DispatchInfo {
  return {
    id: row.id,
    state: row.state,
    target: row.target,
    hand: row.hand,
    dispatcher: row.dispatcher,
    thread_id: row.thread_id,
    attempt: row.attempt,
    submitted_at: row.submitted_at.toISOString(),
    ...(row.started_at ? { started_at: row.started_at.toISOString() } : {}),
    ...(row.finished_at ? { finished_at: row.finished_at.toISOString() } : {}),
    ...(row.result ? { result: row.result as ResultEnvelope } : {}),
  };
}
