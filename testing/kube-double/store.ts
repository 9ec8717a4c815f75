/**
 * The double's etcd: objects by resource, namespace and name, one global resourceVersion counter,
 * and a bounded history of change events for watches to replay. Every write, from the HTTP API or
 * a test's `put`, goes through `create`, `replace` or `remove` here, so watch events, generations
 * and resourceVersions are always consistent. Deletion semantics (finalizers, garbage collection)
 * live in deletion.ts and call back into this.
 */
import { randomUUID } from 'node:crypto';
import { alreadyExists, conflict, KubeError, notFound, invalid } from './errors.js';
import type { Resources } from './resources.js';
import { checkCustomObject } from './validation.js';
import { apiVersionOf, clone, storageKey, type Obj, type ResourceType } from './types.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: EventType;
  rv: number;
  resource: ResourceType;
  object: Obj;
  /** The object before a MODIFIED, so a selecting watch can turn it into ADDED or DELETED. */
  old?: Obj;
}

export type Validator = (object: Obj, old: Obj | undefined) => string | null | undefined;

export interface WriteOptions {
  /** Runs the test's `validate` hooks (API writes do; a test's `put` does not). */
  validate?: boolean;
  /** Writes only status (the `/status` subresource). */
  statusOnly?: boolean;
  /** Keeps the request's status even for kinds with a status subresource (a controller's write). */
  keepStatus?: boolean;
  /** Takes deletionTimestamp from the new object (the delete endpoint; clients cannot set it). */
  markDeletion?: boolean;
  /** The request's `fieldValidation` (Strict refuses unknown fields of custom objects). */
  fieldValidation?: string;
}

const objectKey = (namespace: string | undefined, name: string) => `${namespace ?? ''}/${name}`;

const withoutMetaAndStatus = (o: Obj) => {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
  return JSON.stringify(rest);
};

export class Store {
  private readonly objects = new Map<string, Map<string, Obj>>();
  private readonly history: StoreEvent[] = [];
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  readonly validators = new Map<string, Validator[]>();
  /** Errors thrown by listeners (the double's own controllers); a healthy test leaves this empty. */
  readonly listenerErrors: unknown[] = [];
  private counter = 0;
  private readonly pending: StoreEvent[] = [];
  private delivering = false;
  /** Watches from a resourceVersion below this one have missed events: they get 410 Expired. */
  compactedBefore = 0;

  constructor(
    readonly resources: Resources,
    private readonly historyLimit: number,
  ) {}

  get resourceVersion(): number {
    return this.counter;
  }

  nextVersion(): number {
    return ++this.counter;
  }

  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events after `rv`, or undefined when some of them were already dropped from the history. */
  since(rv: number): StoreEvent[] | undefined {
    if (rv < this.compactedBefore) return undefined;
    return this.history.filter((e) => e.rv > rv);
  }

  /** Forgets the history, so a watch from any resourceVersion handed out so far gets 410. */
  expireHistory(): void {
    this.history.length = 0;
    this.compactedBefore = this.nextVersion();
  }

  private bucket(t: ResourceType): Map<string, Obj> {
    const key = storageKey(t);
    let bucket = this.objects.get(key);
    if (!bucket) this.objects.set(key, (bucket = new Map()));
    return bucket;
  }

  /** The stored object, shown at the version `t` asks for; not a copy: do not mutate. */
  peek(t: ResourceType, namespace: string | undefined, name: string): Obj | undefined {
    return this.bucket(t).get(objectKey(t.namespaced ? namespace : undefined, name));
  }

  get(t: ResourceType, namespace: string | undefined, name: string): Obj {
    const found = this.peek(t, namespace, name);
    if (!found) throw notFound({ plural: t.plural, group: t.group, name });
    return this.view(t, found);
  }

  list(t: ResourceType, namespace?: string): Obj[] {
    const all = [...this.bucket(t).values()];
    return all
      .filter((o) => !t.namespaced || !namespace || o.metadata.namespace === namespace)
      .map((o) => this.view(t, o));
  }

  /** Every stored object of every kind (for garbage collection by owner uid). */
  *everything(): Generator<[ResourceType, Obj]> {
    for (const bucket of this.objects.values()) {
      for (const o of bucket.values()) {
        const t = this.resources.byKind(o.kind, o.apiVersion);
        if (t) yield [t, o];
      }
    }
  }

  view(t: ResourceType, o: Obj): Obj {
    const copy = clone(o);
    copy.apiVersion = apiVersionOf(t);
    return copy;
  }

  /**
   * Records an event and tells the listeners. A listener may write again (garbage collection, a
   * finalizer completing); those events queue behind this one, so every listener sees events in
   * resourceVersion order.
   */
  private emit(event: StoreEvent): void {
    this.history.push(event);
    while (this.history.length > this.historyLimit) {
      const dropped = this.history.shift();
      if (dropped) this.compactedBefore = dropped.rv;
    }
    this.pending.push(event);
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (let next = this.pending.shift(); next; next = this.pending.shift()) {
        for (const listener of [...this.listeners]) {
          try {
            listener(next);
          } catch (err) {
            // A stand-in controller failed: keep it for the test to see, keep delivering.
            this.listenerErrors.push(err);
          }
        }
      }
    } finally {
      this.delivering = false;
      this.pending.length = 0;
    }
  }

  private check(t: ResourceType, object: Obj, old: Obj | undefined, options: WriteOptions): void {
    if (!options.validate) return;
    if (t.custom) checkCustomObject(t, object, options.fieldValidation);
    if (options.statusOnly) return;
    for (const validator of this.validators.get(t.kind) ?? []) {
      const problem = validator(object, old);
      if (problem) throw invalid(t.kind, object.metadata.name ?? '', problem);
    }
  }

  create(t: ResourceType, input: Obj, options: WriteOptions = {}): Obj {
    const object = clone(input);
    object.apiVersion = apiVersionOf(t);
    object.kind = t.kind;
    const meta = (object.metadata ??= {});
    if (!t.namespaced) delete meta.namespace;
    else meta.namespace ??= 'default';
    if (!meta.name && meta.generateName) meta.name = meta.generateName + randomUUID().slice(0, 5);
    if (!meta.name)
      throw invalid(t.kind, '', 'metadata.name: Required value: name or generateName is required');
    const key = objectKey(meta.namespace, meta.name);
    if (this.bucket(t).has(key)) throw alreadyExists({ plural: t.plural, group: t.group, name: meta.name });
    if (t.statusSubresource && !options.keepStatus) delete object.status;
    this.check(t, object, undefined, options);
    meta.uid = randomUUID();
    meta.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    meta.generation = 1;
    delete meta.deletionTimestamp;
    meta.resourceVersion = String(this.nextVersion());
    this.bucket(t).set(key, object);
    this.emit({ type: 'ADDED', rv: this.counter, resource: t, object: clone(object) });
    return this.view(t, object);
  }

  /**
   * Replaces an object (PUT, the result of a patch, a test's `put`). A resourceVersion in the new
   * object is a precondition (409 Conflict when stale). Status and metadata changes do not bump
   * the generation; with a status subresource the main endpoint keeps the stored status and
   * `statusOnly` keeps everything but the status.
   */
  replace(t: ResourceType, input: Obj, options: WriteOptions = {}): Obj {
    const name = input.metadata?.name ?? '';
    const namespace = t.namespaced ? (input.metadata?.namespace ?? 'default') : undefined;
    const old = this.peek(t, namespace, name);
    const target = { plural: t.plural, group: t.group, name };
    if (!old) throw notFound(target);
    const wanted = input.metadata?.resourceVersion;
    if (wanted && wanted !== old.metadata.resourceVersion) throw conflict(target);
    let object: Obj;
    if (options.statusOnly) {
      object = clone(old);
      if (input.status === undefined) delete object.status;
      else object.status = clone(input.status);
    } else {
      object = clone(input);
      object.metadata = { ...clone(input.metadata) };
      if (t.statusSubresource && !options.keepStatus) {
        if (old.status === undefined) delete object.status;
        else object.status = clone(old.status);
      }
    }
    object.apiVersion = apiVersionOf(t);
    object.kind = t.kind;
    const meta = object.metadata;
    const kept = ['uid', 'creationTimestamp', 'namespace', 'name'];
    if (!options.markDeletion) kept.push('deletionTimestamp', 'deletionGracePeriodSeconds');
    for (const field of kept) {
      if (old.metadata[field] === undefined) delete meta[field];
      else meta[field] = old.metadata[field];
    }
    if (old.metadata.deletionTimestamp) {
      const added = (meta.finalizers ?? []).filter((f) => !(old.metadata.finalizers ?? []).includes(f));
      if (added.length > 0) {
        throw new KubeError(
          422,
          `${t.kind} "${name}" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`,
          'Invalid',
        );
      }
    }
    this.check(t, object, old, options);
    const generation = old.metadata.generation ?? 1;
    meta.generation =
      withoutMetaAndStatus(object) === withoutMetaAndStatus(old) ? generation : generation + 1;
    meta.resourceVersion = old.metadata.resourceVersion;
    if (JSON.stringify(object) === JSON.stringify(old)) return this.view(t, old); // a no-op write changes nothing
    meta.resourceVersion = String(this.nextVersion());
    this.bucket(t).set(objectKey(namespace, name), object);
    this.emit({ type: 'MODIFIED', rv: this.counter, resource: t, object: clone(object), old: clone(old) });
    return this.view(t, object);
  }

  /** Removes an object for good (its finalizers are done); garbage collection follows in deletion.ts. */
  drop(t: ResourceType, namespace: string | undefined, name: string): Obj {
    const key = objectKey(t.namespaced ? namespace : undefined, name);
    const old = this.bucket(t).get(key);
    if (!old) throw notFound({ plural: t.plural, group: t.group, name });
    this.bucket(t).delete(key);
    const object = clone(old);
    object.metadata.resourceVersion = String(this.nextVersion());
    this.emit({ type: 'DELETED', rv: this.counter, resource: t, object: clone(object) });
    return this.view(t, object);
  }

  /** Forgets every object of a resource (its CRD was deleted). */
  dropAll(t: ResourceType): void {
    for (const o of [...this.bucket(t).values()]) this.drop(t, o.metadata.namespace, o.metadata.name ?? '');
  }
}
