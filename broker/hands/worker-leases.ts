/**
 * Hands at the broker, the worker's side (SPEC section 6, B.14, B.73-B.75): the gathered
 * long-poll claim, lease renewal, hand-back and completion, and the lease check the credential
 * store asks before a worker's fetch. Only worker tokens pass.
 */
import {
  ClaimedDispatch,
  HandDeclaration,
  ProviderConfig,
  Script,
  WireError,
  type CompletionItem,
} from '../../protocol/index.js';
import type { Principal } from '../auth/principal.js';
import { withDatabaseRetry } from '../db/retry.js';
import type { WorkerLease } from '../credentials/dispatch-lease.js';
import { ClaimGate } from './claim-gate.js';
import * as sql from './lease-sql.js';
import { HANDS_CHANNEL, announceEnded, announceRequeued, type ResultDeps } from './results.js';
import type { HandServiceDeps } from './hand-deps.js';

export class WorkerLeases {
  private readonly gate: ClaimGate;

  constructor(private readonly deps: HandServiceDeps & ResultDeps) {
    this.gate = new ClaimGate((claimers) => sql.claim(deps.db, claimers, deps.settings.leaseS), deps.logger);
  }

  start(): void {
    this.gate.start();
  }

  stop(): void {
    this.gate.stop();
  }

  /** Something may have become claimable. */
  kick(): void {
    this.gate.kick();
  }

  async claim(
    caller: Principal,
    workerId: string,
    waitS: number,
    max: number,
    onAbandon: (abandon: () => void) => void,
  ): Promise<ClaimedDispatch[]> {
    this.requireWorker(caller, 'hand.claim');
    const rows = await this.gate.claim({ workerId, tokenId: caller.tokenId, max }, waitS, onAbandon);
    const claimed: ClaimedDispatch[] = [];
    for (const row of rows) {
      try {
        claimed.push(toClaimed(row));
      } catch (err) {
        // A row this broker cannot describe: end it as an error rather than let its lease expire.
        this.deps.logger.error(
          { err, dispatch: row.dispatch_id },
          'claimed dispatch unreadable; ended as error',
        );
        await this.complete(caller, workerId, [
          {
            dispatch_id: row.dispatch_id,
            attempt: row.attempt,
            status: 'error',
            summary: '',
            artifacts: [],
            usage: { input_tokens: 0, output_tokens: 0, cost_usd: 0 },
            error: 'the broker could not read this dispatch',
          },
        ]).catch(() => undefined);
      }
    }
    const now = Date.now();
    for (const row of rows)
      this.deps.metrics.handWaitSeconds.observe(Math.max(0, (now - row.submitted_at.getTime()) / 1000));
    this.deps.events.recordLater(
      rows.map((row) => ({
        aspect: row.target,
        kind: 'hand.started',
        threadId: row.thread_id,
        data: { dispatch_id: row.dispatch_id, hand: row.hand, attempt: row.attempt, worker_id: workerId },
      })),
    );
    return claimed;
  }

  async heartbeat(caller: Principal, lease: WorkerLease): Promise<{ abort: boolean }> {
    this.requireWorker(caller, 'hand.heartbeat');
    const renewed = await withDatabaseRetry(() =>
      sql.renewLease(this.deps.db, toKey(lease), this.deps.settings.leaseS),
    );
    if (!renewed) throw leaseLost(lease.dispatchId);
    return renewed;
  }

  /** Hands a dispatch back; one asked to stop (or for a stayed-down target) ends `aborted` instead. */
  async release(caller: Principal, lease: WorkerLease): Promise<{ state: 'queued' | 'done' }> {
    this.requireWorker(caller, 'hand.release');
    const released = await withDatabaseRetry(() => sql.releaseLease(this.deps.db, toKey(lease)));
    if (!released) throw leaseLost(lease.dispatchId);
    this.deps.notifier.notify(HANDS_CHANNEL, { released: [lease.dispatchId] });
    this.gate.kick();
    if (released.ended) {
      announceEnded(this.deps, [released.ended]);
      return { state: 'done' };
    }
    if (released.requeued) announceRequeued(this.deps, [released.requeued], 'released');
    return { state: 'queued' };
  }

  /** Completes one or more held dispatches; each item answers `{state}` or `{error}` (B.74). */
  async complete(
    caller: Principal,
    workerId: string,
    items: CompletionItem[],
  ): Promise<
    (
      | { dispatch_id: string; state: 'done' }
      | { dispatch_id: string; error: { code: string; message: string } }
    )[]
  > {
    this.requireWorker(caller, 'hand.complete');
    const completions = items.map((item) => {
      const { dispatch_id: dispatchId, attempt, traceparent, ...result } = item;
      return { dispatchId, attempt, envelope: result, ...(traceparent ? { traceparent } : {}) };
    });
    const done = await withDatabaseRetry(() =>
      sql.completeLeases(this.deps.db, caller.tokenId, workerId, completions),
    );
    announceEnded(this.deps, done);
    if (done.length > 0) {
      this.deps.notifier.notify(HANDS_CHANNEL, { freed: done.map((d) => d.dispatch_id) });
      this.gate.kick();
    }
    const finished = new Set(done.map((d) => d.dispatch_id));
    return items.map((item) =>
      finished.has(item.dispatch_id)
        ? { dispatch_id: item.dispatch_id, state: 'done' as const }
        : {
            dispatch_id: item.dispatch_id,
            error: { code: 'conflict', message: leaseLost(item.dispatch_id).message },
          },
    );
  }

  /** The credential seam: the target whose credential a lease holder may fetch. */
  async heldDispatchTarget(lease: WorkerLease): Promise<string | null> {
    return sql.heldLeaseTarget(this.deps.db, toKey(lease));
  }

  private requireWorker(caller: Principal, action: string): void {
    if (caller.kind === 'worker') return;
    this.deps.audit.denied(caller, action, null, { reason: 'not a worker token' });
    throw new WireError('forbidden', 'only worker tokens may claim and hold dispatches');
  }
}

function leaseLost(dispatchId: string): WireError {
  return new WireError('conflict', `the lease on dispatch ${dispatchId} is not this worker's (anymore)`);
}

function toKey(lease: WorkerLease): sql.LeaseKey {
  return {
    dispatchId: lease.dispatchId,
    tokenId: lease.tokenId,
    workerId: lease.workerId,
    attempt: lease.attempt,
  };
}

function toClaimed(row: sql.ClaimedRow): ClaimedDispatch {
  const identity = (row.identity ?? {}) as Record<string, unknown>;
  const script = Script.safeParse(row.script);
  return {
    id: row.dispatch_id,
    target: row.target,
    hand: row.hand,
    dispatcher: row.dispatcher,
    content: row.content,
    ...(row.input === null || row.input === undefined ? {} : { input: row.input }),
    thread_id: row.thread_id,
    attempt: row.attempt,
    deadline_at: row.deadline_at.toISOString(),
    hand_definition: HandDeclaration.parse(row.hand_definition),
    identity: {
      soul: String(identity.soul ?? ''),
      agent: String(identity.agent ?? ''),
      primer: String(identity.primer ?? ''),
    },
    provider: ProviderConfig.parse(row.provider ?? { kind: 'scripted' }),
    ...(row.script !== null && script.success ? { script: script.data } : {}),
    ...(row.traceparent ? { traceparent: row.traceparent } : {}),
  };
}
