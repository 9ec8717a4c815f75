/**
 * One active operator at a time (SPEC section 11): leader election on the `coordination.k8s.io/v1`
 * Lease `nexus-operator` in the operator's namespace, as client-go's leaderelection does it.
 *
 * States: `candidate` → (the Lease is free, expired or ours) `leading` → (a renew refused 409, or
 * no renew succeeded within 2/3 of the lease) `candidate` … → `stopped` (releasing the Lease if
 * held, so a standby takes over at once).
 *
 * Every write carries the resourceVersion read just before (optimistic concurrency): of two
 * replicas racing for the Lease one gets 409 and stays a candidate. Expiry is judged on this
 * replica's own monotonic clock from when it last saw the Lease change, never by comparing another
 * node's timestamps with ours (clock skew). The leader renews every third of the lease duration.
 * Lease requests use their own client, unlimited: a queue of reconcile writes must not delay a
 * renewal past the lease.
 *
 * The leader stops by its own deadline, not by a request's failure: 2/3 of the lease after the last
 * successful renewal was *sent* (a standby counts the lease from when it saw that renewal, which is
 * later), a timer calls it lost even while a renewal hangs. A standby takes over only a full lease
 * after it last saw a change, so the old leader has stopped by then (ADR 0014).
 */
import type { Logger } from '../../platform/index.js';
import { realClock, type Clock } from '../clock.js';
import type { KubeObject } from '../types.js';
import type { KubeClient } from './client.js';
import { isConflict, isNotFound } from './errors.js';
import { collectionPath, objectPath } from './resources.js';

export const LEASE_NAME = 'nexus-operator';

/**
 * The options of the elector's own `KubeClient`: a request may not outlast a renew period, and a
 * Retry-After is not waited for (the next round comes sooner than any server-given wait).
 */
export const leaseClientOptions = (leaseDurationS: number) => ({
  timeoutMs: Math.max(1, Math.floor((leaseDurationS * 1000) / 3)),
  retryAfterAttempts: 0,
});

export interface LeaderElectorOptions {
  kube: KubeClient;
  namespace: string;
  identity: string;
  leaseDurationS: number;
  logger: Logger;
  onStartedLeading: () => void;
  /** Called at once when leadership is lost (not after `stop()`). */
  onStoppedLeading: () => void;
  name?: string;
  clock?: Clock;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}
type Lease = KubeObject & { spec?: LeaseSpec };

/** Kubernetes MicroTime: RFC 3339 with six fractional digits. */
export const microTime = (date: Date): string => date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class LeaderElector {
  private state: 'candidate' | 'leading' | 'stopped' = 'candidate';
  private timer: { cancel(): void } | null = null;
  /** While leading: fires 2/3 of the lease after the last successful renewal was sent. */
  private deadline: { cancel(): void } | null = null;
  private readonly clock: Clock;
  private readonly name: string;
  /** The last Lease seen, and when (local clock) its holder or renewTime last changed. */
  private observed: { key: string; at: number } | null = null;
  private current: Lease | null = null;
  private round: Promise<void> = Promise.resolve();

  constructor(private readonly options: LeaderElectorOptions) {
    this.clock = options.clock ?? realClock;
    this.name = options.name ?? LEASE_NAME;
  }

  get leading(): boolean {
    return this.state === 'leading';
  }

  private get periodMs(): number {
    return (this.options.leaseDurationS * 1000) / 3;
  }

  start(): void {
    this.tick();
  }

  /** Stops competing; a held Lease is released so a standby need not wait for it to expire. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    this.timer?.cancel();
    this.deadline?.cancel();
    await this.round;
    // Held, or won by a round that was under way when stop came.
    if (this.current) await this.release(this.current);
    this.current = null;
  }

  private tick(): void {
    this.round = this.tryAcquireOrRenew().then(() => {
      if (this.state !== 'stopped') this.timer = this.clock.setTimer(() => this.tick(), this.periodMs);
    });
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const now = new Date();
    const sentAt = this.clock.now();
    let lease: Lease | null;
    try {
      lease = await this.read();
      if (this.state === 'stopped') return;
      if (!lease) {
        this.current = await this.write(null, now);
        return this.won(sentAt);
      }
      const spec = lease.spec ?? {};
      this.note(spec);
      const mine = spec.holderIdentity === this.options.identity;
      if (!mine && spec.holderIdentity && !this.expired(spec)) {
        if (this.state === 'leading') return this.lost(`the Lease is held by ${spec.holderIdentity}`);
        return;
      }
      this.current = await this.write(lease, now);
      return this.won(sentAt);
    } catch (err) {
      if (this.state === 'stopped') return;
      if (isConflict(err)) {
        if (this.state === 'leading') return this.lost('another replica wrote the Lease (409)');
        return; // lost the race for it; try again next round
      }
      // The deadline timer stops a leader that cannot renew in time.
      this.options.logger.warn({ err: String(err) }, 'could not read or write the operator Lease');
    }
  }

  /** A write sent at `sentAt` succeeded: lead (or keep leading) until sentAt + 2/3 lease. */
  private won(sentAt: number): void {
    if (this.state === 'stopped') return;
    const left = sentAt + 2 * this.periodMs - this.clock.now();
    // So slow that a standby may already count the lease as expired: do not (re)start on it.
    if (left <= 0) {
      if (this.state === 'leading') this.lost('the Lease renewal came back too late');
      return;
    }
    this.deadline?.cancel();
    this.deadline = this.clock.setTimer(() => {
      if (this.state === 'leading') this.lost('the Lease could not be renewed in time');
    }, left);
    if (this.state !== 'candidate') return;
    this.state = 'leading';
    this.options.logger.info({ lease: `${this.options.namespace}/${this.name}` }, 'leading');
    this.options.onStartedLeading();
  }

  private lost(why: string): void {
    this.state = 'candidate';
    this.current = null;
    this.deadline?.cancel();
    this.deadline = null;
    this.options.logger.warn({ why }, 'lost the operator Lease');
    this.options.onStoppedLeading();
  }

  /** Remembers when the Lease last changed hands or was renewed, on the local clock. */
  private note(spec: LeaseSpec): void {
    const key = `${spec.holderIdentity ?? ''}|${spec.renewTime ?? ''}`;
    if (this.observed?.key !== key) this.observed = { key, at: this.clock.now() };
  }

  private expired(spec: LeaseSpec): boolean {
    const durationMs = (spec.leaseDurationSeconds ?? this.options.leaseDurationS) * 1000;
    return this.observed !== null && this.clock.now() - this.observed.at >= durationMs;
  }

  private ref() {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      namespace: this.options.namespace,
      name: this.name,
    };
  }

  private async read(): Promise<Lease | null> {
    try {
      return await this.options.kube.request<Lease>('get', objectPath(this.ref()));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /** Creates the Lease, or takes / renews it under the resourceVersion just read. */
  private async write(lease: Lease | null, now: Date): Promise<Lease> {
    const previous = lease?.spec ?? {};
    const taking = previous.holderIdentity !== this.options.identity;
    const spec: LeaseSpec = {
      holderIdentity: this.options.identity,
      leaseDurationSeconds: this.options.leaseDurationS,
      acquireTime: taking || !previous.acquireTime ? microTime(now) : previous.acquireTime,
      renewTime: microTime(now),
      leaseTransitions:
        (previous.leaseTransitions ?? 0) + (lease && taking && previous.holderIdentity ? 1 : 0),
    };
    if (!lease) {
      const ref = this.ref();
      return this.options.kube.request<Lease>(
        'create',
        collectionPath(ref.apiVersion, ref.kind, ref.namespace),
        {
          body: {
            apiVersion: ref.apiVersion,
            kind: ref.kind,
            metadata: { name: ref.name, namespace: ref.namespace },
            spec,
          },
        },
      );
    }
    return this.options.kube.request<Lease>('update', objectPath(this.ref()), {
      body: { ...lease, spec },
    });
  }

  /** Gives the Lease up: no holder, so the next candidate to look takes it. */
  private async release(lease: Lease): Promise<void> {
    try {
      await this.options.kube.request('update', objectPath(this.ref()), {
        body: {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: '',
            leaseDurationSeconds: 1,
            renewTime: microTime(new Date()),
          },
        },
      });
      this.options.logger.info('released the operator Lease');
    } catch (err) {
      this.options.logger.warn({ err: String(err) }, 'could not release the operator Lease; it will expire');
    }
  }
}
