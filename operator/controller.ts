/**
 * The operator while it leads: informers → work queue → observe → reconcile → outcome.
 *
 * States: `syncing` (informers listing; changes are only remembered) → `running` (every Aspect
 * queued once, then each change queues its Aspect; a resync every RESYNC_S queues them all) →
 * `stopped` (by a lost lease or a shutdown: nothing more is taken).
 *
 * What queues an Aspect: a change of the Aspect; of an object labelled with its name (its PVC,
 * ConfigMap, StatefulSet, Pod); of a ConfigMap its identity or script names (B.107, through an
 * index from `namespace/configmap` to Aspects kept from the Aspect cache).
 *
 * The expected roster (B.24) is reported once synced, after changes (debounced), and at every
 * resync: the broker names of the Aspects neither suspended nor being deleted.
 */
import type { Logger } from '../platform/index.js';
import type { KubeClient } from './kube/client.js';
import { Informers, type InformerVerb, type WatchedKind } from './kube/informers.js';
import type { OperatorMetrics } from './metrics.js';
import { CACHE_BEHIND_REQUEUE_MS, ExpectingWriter, WriteExpectations } from './expectations.js';
import { referencedConfigMapNames } from './documents.js';
import { isOutage, keyOf, observe, splitKey } from './observed.js';
import {
  ASPECT_LABEL,
  type AspectObject,
  type BrokerAdmin,
  type KubeObject,
  type KubeWriter,
  type Observed,
  objectNames,
  type OperatorSettings,
  type ReconcileDeps,
  type ReconcileOutcome,
} from './types.js';
import { WorkQueue, type QueueOutcome } from './work-queue.js';
import { expectedRoster, RosterReporter } from './roster-reporter.js';
import { namespaceOf } from './meta.js';

export type ReconcileFn = (observed: Observed, deps: ReconcileDeps) => Promise<ReconcileOutcome>;

export interface ControllerOptions {
  kube: KubeClient;
  writer: KubeWriter;
  broker: BrokerAdmin;
  settings: OperatorSettings;
  operatorTokenName: string;
  reconcile: ReconcileFn;
  logger: Logger;
  metrics: OperatorMetrics;
  /** The `source` of the expected roster (B.24): stable across leader changes. */
  rosterSource: string;
  workers?: number;
  rosterDebounceMs?: number;
}

export class Controller {
  readonly informers: Informers;
  private readonly queue: WorkQueue;
  private readonly roster: RosterReporter;
  /** Our writes the caches have not shown yet: a pass waits for them (operator/expectations.ts). */
  private readonly expectations: WriteExpectations;
  private readonly writer: KubeWriter;
  /** `namespace/configmap` → keys of the Aspects that name it. */
  private readonly configMapUsers = new Map<string, Set<string>>();
  private readonly referencesOf = new Map<string, string[]>();
  /** ReconcileDeps.secretTokens: which token this term wrote into each Aspect's Secret. */
  private readonly secretTokens = new Map<string, string>();
  private state: 'syncing' | 'running' | 'stopped' = 'syncing';
  private resyncTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: ControllerOptions) {
    this.informers = new Informers({
      kube: options.kube,
      namespaces: options.settings.watchNamespaces,
      logger: options.logger,
      onChange: (kind, verb, object) => this.changed(kind, verb, object),
      onRestart: (kind) => options.metrics.informerRestarted(kind),
    });
    this.expectations = new WriteExpectations(this.informers);
    this.writer = new ExpectingWriter(options.writer, this.expectations);
    this.queue = new WorkQueue({
      handle: (key) => this.handle(key),
      workers: options.workers ?? 4,
      onThrown: (key, err) => options.logger.error({ aspect: key, err: String(err) }, 'reconcile threw'),
    });
    options.metrics.readQueueDepth(() => this.queue.depth());
    this.roster = new RosterReporter({
      broker: options.broker,
      source: options.rosterSource,
      logger: options.logger,
      expected: () => expectedRoster(this.aspects()),
      debounceMs: options.rosterDebounceMs ?? 1000,
    });
  }

  /** Starts the informers and, once they have listed, the workers. */
  async start(): Promise<void> {
    await this.informers.start();
    await this.informers.whenSynced();
    if (this.state === 'stopped') return;
    this.state = 'running';
    this.options.logger.info({ aspects: this.aspects().length }, 'informers synced; reconciling');
    this.queueAll();
    this.roster.report();
    this.resyncTimer = setInterval(() => {
      this.queueAll();
      this.roster.report({ force: true });
    }, this.options.settings.resyncS * 1000);
  }

  /** True once the caches are filled and the workers run. */
  get running(): boolean {
    return this.state === 'running';
  }

  /** Stops at once: no new reconcile starts; resolves when the running ones have ended. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.roster.stop();
    await Promise.all([this.queue.stop(), this.informers.stop()]);
  }

  private aspects(): AspectObject[] {
    return this.informers.list<AspectObject>('Aspect');
  }

  private queueAll(): void {
    for (const aspect of this.aspects()) this.queue.add(keyOf(namespaceOf(aspect), aspect.metadata.name));
  }

  private enqueue(key: string): void {
    if (this.state === 'running') this.queue.add(key);
  }

  private changed(kind: WatchedKind, verb: InformerVerb, object: KubeObject): void {
    const namespace = namespaceOf(object);
    if (kind === 'Aspect') {
      const key = keyOf(namespace, object.metadata.name);
      this.index(key, verb === 'delete' ? [] : referencedConfigMapNames((object as AspectObject).spec));
      this.enqueue(key);
      if (this.state === 'running') this.roster.report();
      return;
    }
    const owner = object.metadata.labels?.[ASPECT_LABEL];
    if (owner) this.enqueue(keyOf(namespace, owner));
    if (kind === 'ConfigMap')
      for (const key of this.configMapUsers.get(keyOf(namespace, object.metadata.name)) ?? [])
        this.enqueue(key);
  }

  /** Keeps the index of B.107 in step with one Aspect's references. */
  private index(key: string, names: string[]): void {
    const { namespace } = splitKey(key);
    for (const name of this.referencesOf.get(key) ?? []) {
      const users = this.configMapUsers.get(keyOf(namespace, name));
      users?.delete(key);
      if (users?.size === 0) this.configMapUsers.delete(keyOf(namespace, name));
    }
    if (names.length === 0) this.referencesOf.delete(key);
    else this.referencesOf.set(key, names);
    for (const name of names) {
      const cm = keyOf(namespace, name);
      const users = this.configMapUsers.get(cm) ?? new Set<string>();
      users.add(key);
      this.configMapUsers.set(cm, users);
    }
  }

  private async handle(key: string): Promise<QueueOutcome> {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    const { logger, metrics } = this.options;
    const { namespace, name } = splitKey(key);
    const names = objectNames(name);
    const owned: [WatchedKind, string][] = [
      ['Aspect', name],
      ['PersistentVolumeClaim', names.pvc],
      ['ConfigMap', names.configMap],
      ['StatefulSet', names.statefulSet],
    ];
    if (this.expectations.behind(namespace, owned)) {
      // The watch event that shows our last write queues the Aspect again; this is a fallback.
      logger.debug({ aspect: key }, 'the cache does not show our last writes yet; waiting for it');
      return { requeueAfterMs: CACHE_BEHIND_REQUEUE_MS, deferred: true };
    }
    const observation = await observe(key, {
      informers: this.informers,
      broker: this.options.broker,
      grantedBy: this.options.operatorTokenName,
    });
    if (!observation) {
      this.queue.forget(key); // deleted and released: nothing left to do
      this.secretTokens.delete(key);
      this.expectations.forget(namespace, owned);
      return {};
    }
    if (observation.brokerError) {
      if (isOutage(observation.brokerError)) metrics.brokerUnavailable();
      logger.warn({ aspect: key, err: observation.brokerError.message }, 'the broker could not be asked');
    }
    const outcome = await this.options.reconcile(observation.observed, {
      kube: this.writer,
      broker: this.options.broker,
      settings: this.options.settings,
      grantedBy: this.options.operatorTokenName,
      now: () => new Date(),
      secretTokens: this.secretTokens,
    });
    if (outcome.error) {
      metrics.reconciled('error', seconds());
      logger.warn(
        { aspect: key, err: outcome.error.message, failures: this.queue.failuresOf(key) + 1 },
        'reconcile failed; retrying with backoff',
      );
    } else {
      metrics.reconciled(outcome.requeueAfterMs === undefined ? 'ok' : 'requeue', seconds());
      logger.debug({ aspect: key, requeueAfterMs: outcome.requeueAfterMs }, 'reconciled');
    }
    return outcome;
  }
}
