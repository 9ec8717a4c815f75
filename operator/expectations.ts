/**
 * Reading its own writes through the informer caches. A pass reads only the caches (B.31), and a
 * cache shows a write only when its watch delivers the event: at once usually, but up to seconds
 * late after a 410, a dropped watch or a failed list (client-node waits before re-watching). A pass
 * on a cache that does not show the previous pass's writes acts on the past: a create answered 409,
 * a finalizer patch refused on its old resourceVersion, a status flapping (fault 13).
 *
 * So every write of a watched object through `ExpectingWriter` records how the cache showed the
 * object just before (its resourceVersion, or absent); while the cache still shows that (or the
 * version of an earlier write of ours that this one superseded), the cache is behind and the controller defers the Aspect's pass: the watch event that brings the
 * write queues it again. No resourceVersion is ever compared for order (they are opaque): any
 * other state than the one written over means the cache has moved past our write. An expectation
 * not met within `ttlMs` is dropped (the object went away unseen, or the watch is down for long):
 * the pass then runs as before and relies on 409s.
 */
import type { Informers, WatchedKind } from './kube/informers.js';
import type { AspectObject, KubeObject, KubeWriter, ObjectRef, OwnerReference } from './types.js';

const WATCHED = new Set<string>(['Aspect', 'PersistentVolumeClaim', 'StatefulSet', 'Pod', 'ConfigMap']);
const DEFAULT_TTL_MS = 60_000;

type Cache = Pick<Informers, 'get'>;

interface Expectation {
  /** Versions the cache may show that predate our last write (null: absent). */
  stale: Set<string | null>;
  /** The version our last write produced. */
  written: string | undefined;
  until: number;
}

/** Deferred passes look again after this long if no watch event queues them first. */
export const CACHE_BEHIND_REQUEUE_MS = 1_000;

const keyOf = (kind: string, namespace: string, name: string) => `${kind} ${namespace}/${name}`;

export class WriteExpectations {
  private readonly pending = new Map<string, Expectation>();

  constructor(
    private readonly cache: Cache,
    private readonly ttlMs = DEFAULT_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** The cache's resourceVersion of an object now (null: absent); undefined for unwatched kinds. */
  cachedVersion(kind: string, namespace: string, name: string): string | null | undefined {
    if (!WATCHED.has(kind)) return undefined;
    return this.cache.get(kind as WatchedKind, namespace, name)?.metadata.resourceVersion ?? null;
  }

  /** We wrote an object the cache showed as `before`; the server answered `written`. */
  wrote(
    kind: string,
    namespace: string,
    name: string,
    before: string | null | undefined,
    written: KubeObject,
  ): void {
    const version = written.metadata.resourceVersion;
    if (before === undefined || version === before) return; // unwatched, or a write that changed nothing
    const key = keyOf(kind, namespace, name);
    // Two writes in one pass (finalizer, then status): the cache is behind until it shows the last.
    const earlier = this.pending.get(key);
    const stale = new Set<string | null>(earlier?.stale ?? []);
    stale.add(before);
    if (earlier?.written !== undefined) stale.add(earlier.written);
    stale.delete(version ?? null);
    this.pending.set(key, { stale, written: version, until: this.now() + this.ttlMs });
  }

  /** Whether the cache still shows any of these objects as it was before one of our writes. */
  behind(namespace: string, objects: [kind: WatchedKind, name: string][]): boolean {
    let behind = false;
    for (const [kind, name] of objects) {
      const key = keyOf(kind, namespace, name);
      const expectation = this.pending.get(key);
      if (!expectation) continue;
      const shown = this.cache.get(kind, namespace, name)?.metadata.resourceVersion ?? null;
      if (!expectation.stale.has(shown) || this.now() > expectation.until) this.pending.delete(key);
      else behind = true;
    }
    return behind;
  }

  /** Drops what is expected of these objects (their Aspect is gone). */
  forget(namespace: string, objects: [kind: WatchedKind, name: string][]): void {
    for (const [kind, name] of objects) this.pending.delete(keyOf(kind, namespace, name));
  }

  /** How many writes the caches have not shown yet (for tests). */
  get size(): number {
    return this.pending.size;
  }
}

/** A KubeWriter that records an expectation for each successful write of a watched object. */
export class ExpectingWriter implements KubeWriter {
  constructor(
    private readonly inner: KubeWriter,
    private readonly expectations: WriteExpectations,
  ) {}

  async create(object: KubeObject): Promise<KubeObject> {
    const { kind } = object;
    const namespace = object.metadata.namespace ?? '';
    const before = this.expectations.cachedVersion(kind, namespace, object.metadata.name);
    const written = await this.inner.create(object);
    this.expectations.wrote(kind, namespace, object.metadata.name, before, written);
    return written;
  }

  async mergePatch(ref: ObjectRef, patch: Record<string, unknown>): Promise<KubeObject> {
    const before = this.expectations.cachedVersion(ref.kind, ref.namespace, ref.name);
    const written = await this.inner.mergePatch(ref, patch);
    this.expectations.wrote(ref.kind, ref.namespace, ref.name, before, written);
    return written;
  }

  async patchStatus(ref: ObjectRef, status: Record<string, unknown>): Promise<KubeObject> {
    const before = this.expectations.cachedVersion(ref.kind, ref.namespace, ref.name);
    const written = await this.inner.patchStatus(ref, status);
    this.expectations.wrote(ref.kind, ref.namespace, ref.name, before, written);
    return written;
  }

  delete(ref: ObjectRef): Promise<void> {
    return this.inner.delete(ref);
  }

  writeSecret(
    ref: ObjectRef,
    stringData: Record<string, string>,
    owner?: OwnerReference,
    labels?: Record<string, string>,
  ): Promise<void> {
    return this.inner.writeSecret(ref, stringData, owner, labels);
  }

  event(about: AspectObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    return this.inner.event(about, type, reason, message);
  }
}
