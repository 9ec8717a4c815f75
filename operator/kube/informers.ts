/**
 * The operator's informer caches (B.31: it reads from caches, never from the API in a reconcile):
 * Aspects; the PVCs, StatefulSets and Pods it owns (label `app.kubernetes.io/managed-by=
 * nexus-operator`); and every ConfigMap, because B.107 follows ConfigMaps the user names, which
 * carry no label of ours (the owned `NAME-config` ConfigMaps are among them). One informer per kind
 * per namespace of `WATCH_NAMESPACES`, or one cluster-wide when it is empty (B.61).
 *
 * client-node's informer re-lists by itself on 410 Gone and re-watches after a timeout or a watch
 * the server closed, but stops for good on any other error (a 500, a refused connection, a 403).
 * Each informer here is restarted after such an error, waiting 0.5 s doubling to 30 s; the wait
 * starts again from 0.5 s only after a minute without errors, so a watch that keeps failing right
 * after its list is not restarted in a tight loop (B.72).
 *
 * States of one informer: starting → synced (first list done) ⇄ restarting (after an error) →
 * stopped.
 */
import {
  makeInformer,
  type Informer,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node';
import type { Logger } from '../../platform/index.js';
import { MANAGED_BY, MANAGED_BY_LABEL, type KubeObject } from '../types.js';
import type { KubeClient } from './client.js';
import { ASPECT_API_VERSION, collectionPath } from './resources.js';

export type WatchedKind = 'Aspect' | 'PersistentVolumeClaim' | 'StatefulSet' | 'Pod' | 'ConfigMap';
export type InformerVerb = 'add' | 'update' | 'delete';

const KINDS: Record<WatchedKind, { apiVersion: string; owned: boolean }> = {
  Aspect: { apiVersion: ASPECT_API_VERSION, owned: false },
  PersistentVolumeClaim: { apiVersion: 'v1', owned: true },
  StatefulSet: { apiVersion: 'apps/v1', owned: true },
  Pod: { apiVersion: 'v1', owned: true },
  ConfigMap: { apiVersion: 'v1', owned: false },
};
export const WATCHED_KINDS = Object.keys(KINDS) as WatchedKind[];

const MIN_RESTART_MS = 500;
const MAX_RESTART_MS = 30_000;
/** Running this long without an error forgives earlier ones. */
const QUIET_RESET_MS = 60_000;

export interface InformerOptions {
  kube: KubeClient;
  /** Empty: cluster-wide. */
  namespaces: string[];
  logger: Logger;
  onChange: (kind: WatchedKind, verb: InformerVerb, object: KubeObject) => void;
  /** An informer stopped on an error and will be restarted (for metrics). */
  onRestart?: (kind: WatchedKind) => void;
  /** An informer listed (first or again). */
  onListed?: () => void;
}

/** One informer of one kind in one namespace (or all), restarted after errors. */
class RestartingInformer {
  private informer: Informer<KubernetesObject> & ObjectCache<KubernetesObject>;
  private restartMs = MIN_RESTART_MS;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private startedAt = Date.now();
  synced = false;

  constructor(
    readonly kind: WatchedKind,
    readonly namespace: string | undefined,
    private readonly options: InformerOptions,
  ) {
    const { apiVersion, owned } = KINDS[kind];
    const path = collectionPath(apiVersion, kind, namespace);
    const selector = owned ? `${MANAGED_BY_LABEL}=${MANAGED_BY}` : undefined;
    const list = async () => {
      const result = await options.kube.list(path, selector);
      // A built-in kind's list items carry no apiVersion and kind (watch events do): stamp them,
      // so a cached object names its own REST path (refOf) wherever it came from.
      for (const item of result.items) {
        item.apiVersion ??= apiVersion;
        item.kind ??= kind;
      }
      // Once the informer has filled its cache from this list (synchronously, right after we return).
      setImmediate(() => {
        this.synced = true;
        options.onListed?.();
      });
      return result;
    };
    this.informer = makeInformer(options.kube.kubeConfig, path, list, selector);
    for (const verb of ['add', 'update', 'delete'] as const)
      this.informer.on(verb, (object) => options.onChange(kind, verb, object as KubeObject));
    this.informer.on('error', (err) => this.failed(err));
  }

  get cache(): ObjectCache<KubernetesObject> {
    return this.informer;
  }

  async start(): Promise<void> {
    this.startedAt = Date.now();
    await this.informer.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.informer.stop();
  }

  private failed(err: unknown): void {
    if (this.stopped) return; // stopping aborts the watch, which reports as an error
    if (Date.now() - this.startedAt > QUIET_RESET_MS) this.restartMs = MIN_RESTART_MS;
    const wait = this.restartMs;
    this.restartMs = Math.min(MAX_RESTART_MS, this.restartMs * 2);
    this.options.logger.warn(
      { kind: this.kind, namespace: this.namespace ?? '*', err: describe(err), restartInMs: wait },
      'informer stopped on an error; restarting it',
    );
    this.options.onRestart?.(this.kind);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.stopped) void this.start().catch((e: unknown) => this.failed(e));
    }, wait);
  }
}

/** Every informer of the operator, and reads from their caches. */
export class Informers {
  private readonly informers: RestartingInformer[] = [];
  private syncWaiters: (() => void)[] = [];

  constructor(private readonly options: InformerOptions) {
    const scopes = options.namespaces.length > 0 ? options.namespaces : [undefined];
    const listed = () => {
      options.onListed?.();
      if (this.synced()) for (const resolve of this.syncWaiters.splice(0)) resolve();
    };
    for (const kind of WATCHED_KINDS)
      for (const namespace of scopes)
        this.informers.push(new RestartingInformer(kind, namespace, { ...options, onListed: listed }));
  }

  /** Starts every informer; resolves when each has listed once or failed (and is restarting). */
  async start(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.start().catch(() => undefined)));
  }

  /** True once every informer has listed at least once: the caches reflect the cluster. */
  synced(): boolean {
    return this.informers.every((i) => i.synced);
  }

  /** Resolves once `synced()` (informers that failed their first list are being restarted). */
  whenSynced(): Promise<void> {
    if (this.synced()) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  get<T extends KubeObject = KubeObject>(kind: WatchedKind, namespace: string, name: string): T | undefined {
    const informer = this.informerFor(kind, namespace);
    return informer?.cache.get(name, namespace) as T | undefined;
  }

  list<T extends KubeObject = KubeObject>(kind: WatchedKind, namespace?: string): T[] {
    return this.informers
      .filter(
        (i) =>
          i.kind === kind &&
          (namespace === undefined || i.namespace === undefined || i.namespace === namespace),
      )
      .flatMap((i) => i.cache.list(namespace) as unknown as T[]);
  }

  /** Whether `namespace` is watched at all. */
  watches(namespace: string): boolean {
    return this.options.namespaces.length === 0 || this.options.namespaces.includes(namespace);
  }

  private informerFor(kind: WatchedKind, namespace: string): RestartingInformer | undefined {
    return this.informers.find(
      (i) => i.kind === kind && (i.namespace === undefined || i.namespace === namespace),
    );
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const status = (err as { statusCode?: unknown }).statusCode;
    return typeof status === 'number' ? `HTTP ${status}: ${err.message}` : err.message;
  }
  return String(err);
}
