/**
 * The Kubernetes API test double: a real HTTP server speaking enough of the REST and watch
 * protocol for the real `@kubernetes/client-node` and the real `kubectl`, plus what tests need
 * around it: direct store access, waiting on change events, fault injection, a request log and
 * stand-in controllers (off unless a test starts them).
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { startPvcBinder, startStatefulSetController } from './controllers.js';
import { Faults } from './faults.js';
import { deleteObject, startLifecycle, type PropagationPolicy } from './lifecycle.js';
import { RequestLog, type RequestFilter, type LoggedRequest } from './requests.js';
import { Resources } from './resources.js';
import { readyStatus, unschedulableStatus, waitingStatus } from './pod-status.js';
import { labelSelector } from './selectors.js';
import { listen } from './server.js';
import { Store, type StoreEvent, type Validator } from './store.js';
import type { Obj, ResourceType } from './types.js';
import { Watches } from './watch.js';

export interface KubeDoubleOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Events kept for watches to replay; older resourceVersions get 410 Expired. */
  historyLimit?: number;
  /** The server closes every watch after this long (as the real one does after its request timeout). */
  watchTimeoutMs?: number;
  /** Interval of BOOKMARKs, for watches that asked with `allowWatchBookmarks=true`. */
  bookmarkIntervalMs?: number;
  /**
   * The bearer token of the kubeconfig; a request with another one gets 401 (one without any is
   * served: client-go sends none over http). Generated when absent; `null`: no token at all.
   */
  token?: string | null;
}

/** Names an object for the direct store helpers; apiVersion only disambiguates (core Event first). */
export interface Ref {
  kind: string;
  apiVersion?: string;
  namespace?: string;
  name: string;
}

export interface ListQuery {
  kind: string;
  apiVersion?: string;
  namespace?: string;
  labelSelector?: string;
}

export class KubeDouble {
  readonly resources = new Resources();
  readonly store: Store;
  readonly faults = new Faults();
  readonly log = new RequestLog();
  readonly watches: Watches;
  private readonly changeWaiters = new Set<() => void>();
  private stopLifecycle: () => void;
  private server?: http.Server;
  url = '';
  readonly token: string | undefined;

  constructor(readonly options: KubeDoubleOptions = {}) {
    this.store = new Store(this.resources, options.historyLimit ?? 10_000);
    this.watches = new Watches(this.store);
    this.token = options.token === null ? undefined : (options.token ?? randomBytes(16).toString('hex'));
    this.stopLifecycle = startLifecycle(this.store);
    this.store.subscribe(() => this.wake());
    const record = this.log.record.bind(this.log);
    this.log.record = (entry: LoggedRequest) => {
      record(entry);
      this.wake();
    };
  }

  async start(): Promise<string> {
    const { server, url } = await listen(
      {
        store: this.store,
        watches: this.watches,
        watchTimeoutMs: this.options.watchTimeoutMs ?? 5 * 60_000,
        bookmarkIntervalMs: this.options.bookmarkIntervalMs ?? 60_000,
        token: this.token,
        faults: this.faults,
        log: this.log,
      },
      this.options.port ?? 0,
    );
    this.server = server;
    this.url = url;
    return url;
  }

  async stop(): Promise<void> {
    this.watches.drop('destroy');
    this.stopLifecycle();
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private wake(): void {
    for (const waiter of [...this.changeWaiters]) waiter();
  }

  private type(kind: string, apiVersion?: string): ResourceType {
    const t = this.resources.byKind(kind, apiVersion);
    if (!t) throw new Error(`the double serves no kind ${kind}${apiVersion ? ` in ${apiVersion}` : ''}`);
    return t;
  }

  /** Serves a kind without a CRD (an API the real cluster would have built in). */
  serve(type: ResourceType): void {
    this.resources.replace(type.group, type.plural, [type]);
  }

  /** The object, or undefined when absent. */
  find(ref: Ref): Obj | undefined {
    const t = this.type(ref.kind, ref.apiVersion);
    const found = this.store.peek(t, ref.namespace, ref.name);
    return found ? this.store.view(t, found) : undefined;
  }

  /** The object; throws when absent. */
  get(ref: Ref): Obj {
    const t = this.type(ref.kind, ref.apiVersion);
    return this.store.get(t, ref.namespace, ref.name);
  }

  list(query: ListQuery): Obj[] {
    const t = this.type(query.kind, query.apiVersion);
    return this.store.list(t, query.namespace).filter(labelSelector(query.labelSelector));
  }

  /**
   * Writes an object as a controller would: creates it or replaces it whole, status included.
   * A resourceVersion in it is a precondition, as in the API.
   */
  put(object: Obj): Obj {
    const t = this.type(object.kind, object.apiVersion);
    const exists = this.store.peek(t, object.metadata.namespace, object.metadata.name ?? '');
    return exists
      ? this.store.replace(t, object, { keepStatus: true })
      : this.store.create(t, object, { keepStatus: true });
  }

  /** Changes an object with a function over a copy of it (a read-modify-write without conflicts). */
  update(ref: Ref, change: (object: Obj) => void): Obj {
    const object = this.get(ref);
    change(object);
    return this.put(object);
  }

  /** Deletes as the API would (finalizers, garbage collection); the object when it lingers. */
  delete(ref: Ref, policy: PropagationPolicy = 'Background'): Obj | undefined {
    const t = this.type(ref.kind, ref.apiVersion);
    return deleteObject(this.store, t, ref.namespace, ref.name, policy);
  }

  /** Makes creates and updates of `kind` through the API answer 422 with the returned message. */
  validate(kind: string, validator: Validator): () => void {
    const list = this.store.validators.get(kind) ?? [];
    list.push(validator);
    this.store.validators.set(kind, list);
    return () => {
      const i = list.indexOf(validator);
      if (i >= 0) list.splice(i, 1);
    };
  }

  /** Every store change, in resourceVersion order; returns the unsubscribe. */
  onChange(listener: (event: StoreEvent) => void): () => void {
    return this.store.subscribe(listener);
  }

  /**
   * Resolves with `check()`'s first truthy value, checked now and after every store change and
   * every logged request: no polling.
   */
  waitFor<T>(check: () => T, options: { timeoutMs?: number; what?: string } = {}): Promise<NonNullable<T>> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      let lastError: unknown;
      const attempt = (): boolean => {
        try {
          const value = check();
          if (value) {
            finish();
            resolve(value as NonNullable<T>);
            return true;
          }
        } catch (err) {
          lastError = err;
        }
        return false;
      };
      const finish = () => {
        clearTimeout(timer);
        this.changeWaiters.delete(waiter);
      };
      const waiter = () => void attempt();
      const timer = setTimeout(() => {
        finish();
        const suffix = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
        reject(
          new Error(`timed out after ${timeoutMs} ms waiting for ${options.what ?? 'a condition'}${suffix}`),
        );
      }, timeoutMs);
      if (!attempt()) this.changeWaiters.add(waiter);
    });
  }

  /** Requests answered so far, filtered. */
  requests(filter: RequestFilter = {}): LoggedRequest[] {
    return this.log.filter(filter);
  }

  /** How many write requests (create, update, patch, delete; status writes too) matched. */
  writes(filter: Omit<RequestFilter, 'verb' | 'method'> = {}): number {
    return this.log.writes(filter).length;
  }

  /**
   * Stand-in controllers, off by default; each start returns its stop. See controllers.ts for
   * what they do (and do not).
   */
  readonly controllers = {
    statefulSets: (): (() => void) => startStatefulSetController(this.store),
    pvcBinder: (): (() => void) => startPvcBinder(this.store),
  };

  /** Plays the kubelet: the pod runs and is Ready. */
  markPodReady(pod: { namespace: string; name: string }): Obj {
    return this.update({ kind: 'Pod', ...pod }, (o) => (o.status = readyStatus(o)));
  }

  /** Plays the scheduler: PodScheduled False, reason Unschedulable. */
  markPodUnschedulable(pod: { namespace: string; name: string }, message?: string): Obj {
    return this.update({ kind: 'Pod', ...pod }, (o) => (o.status = unschedulableStatus(message)));
  }

  /** Plays the kubelet: every container waiting with `reason` (ImagePullBackOff, CrashLoopBackOff...). */
  markPodWaiting(pod: { namespace: string; name: string }, reason: string, message?: string): Obj {
    return this.update({ kind: 'Pod', ...pod }, (o) => (o.status = waitingStatus(o, reason, message)));
  }

  /** Ends every open watch: `end` lets clients re-watch, `destroy` resets the connection. */
  dropWatches(how: 'end' | 'destroy' = 'end'): void {
    this.watches.drop(how);
  }

  /** Forgets the event history: the next watch from any resourceVersion handed out gets 410. */
  expireHistory(): void {
    this.store.expireHistory();
  }

  /** Sends a BOOKMARK now to the watches that asked for them. */
  bookmark(): void {
    this.watches.bookmark();
  }
}

/** Starts a double on a free port (or `options.port`). */
export async function startKubeDouble(options: KubeDoubleOptions = {}): Promise<KubeDouble> {
  const double = new KubeDouble(options);
  await double.start();
  return double;
}
