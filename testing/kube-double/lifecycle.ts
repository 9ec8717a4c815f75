/**
 * What the real control plane does around writes, run synchronously on the store's events:
 * - deletion: an object with finalizers gets a deletionTimestamp and is removed once its
 *   finalizers are empty; propagationPolicy Background (default), Foreground and Orphan;
 * - garbage collection: dependents whose owner (matched by uid) is gone are deleted, or lose the
 *   dangling reference when another owner still exists;
 * - namespaces: deleting one deletes what is in it (objects with finalizers linger until cleared;
 *   the namespace itself goes at once: no Terminating phase);
 * - CRDs: a created CRD is Established at once and serves its kinds; deleting it removes its
 *   custom objects without waiting for their finalizers (the real server waits).
 */
import { KubeError } from './errors.js';
import { typesOfCrd } from './resources.js';
import type { Store } from './store.js';
import { clone, isObject, storageKey, type Obj, type ResourceType } from './types.js';

export type PropagationPolicy = 'Background' | 'Foreground' | 'Orphan';

const FOREGROUND = 'foregroundDeletion';

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

function dependentsOf(store: Store, uid: string | undefined): [ResourceType, Obj][] {
  if (!uid) return [];
  return [...store.everything()].filter(([, o]) =>
    (o.metadata.ownerReferences ?? []).some((r) => r.uid === uid),
  );
}

function uidExists(store: Store, uid: string): boolean {
  for (const [, o] of store.everything()) if (o.metadata.uid === uid) return true;
  return false;
}

/**
 * DELETE of one object. Returns the object when it lingers (finalizers pending), else undefined.
 */
export function deleteObject(
  store: Store,
  t: ResourceType,
  namespace: string | undefined,
  name: string,
  policy: PropagationPolicy = 'Background',
  preconditionUid?: string,
): Obj | undefined {
  const current = store.get(t, namespace, name);
  if (preconditionUid && preconditionUid !== current.metadata.uid) {
    throw new KubeError(
      409,
      `Precondition failed: UID in precondition: ${preconditionUid}, UID in object meta: ${current.metadata.uid}`,
      'Conflict',
    );
  }
  const uid = current.metadata.uid;
  if (policy === 'Orphan') {
    for (const [dt, dep] of dependentsOf(store, uid)) {
      const refs = (dep.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
      const next = clone(dep);
      if (refs.length > 0) next.metadata.ownerReferences = refs;
      else delete next.metadata.ownerReferences;
      store.replace(dt, next, { keepStatus: true });
    }
  }
  const finalizers = [...(current.metadata.finalizers ?? [])];
  if (policy === 'Foreground' && dependentsOf(store, uid).length > 0 && !finalizers.includes(FOREGROUND)) {
    finalizers.push(FOREGROUND);
  }
  if (finalizers.length === 0) {
    store.drop(t, namespace, name);
    return undefined;
  }
  if (
    current.metadata.deletionTimestamp &&
    finalizers.length === (current.metadata.finalizers ?? []).length
  ) {
    return current;
  }
  const next = clone(current);
  next.metadata.finalizers = finalizers;
  next.metadata.deletionTimestamp ??= now();
  next.metadata.deletionGracePeriodSeconds = 0;
  delete next.metadata.resourceVersion;
  return store.replace(t, next, { keepStatus: true, markDeletion: true });
}

function collectDependents(store: Store, owner: Obj): void {
  for (const [dt, dep] of dependentsOf(store, owner.metadata.uid)) {
    if (!store.peek(dt, dep.metadata.namespace, dep.metadata.name ?? '')) continue;
    const solid = (dep.metadata.ownerReferences ?? []).filter(
      (r) => r.uid !== owner.metadata.uid && uidExists(store, r.uid),
    );
    if (solid.length > 0) {
      const next = clone(dep);
      next.metadata.ownerReferences = solid;
      store.replace(dt, next, { keepStatus: true });
    } else if (!dep.metadata.deletionTimestamp || (dep.metadata.finalizers ?? []).length === 0) {
      deleteObject(store, dt, dep.metadata.namespace, dep.metadata.name ?? '');
    }
  }
}

/** A foreground owner whose dependents are all gone loses its foregroundDeletion finalizer. */
function releaseForegroundOwners(store: Store): void {
  for (const [t, o] of [...store.everything()]) {
    if (!o.metadata.deletionTimestamp || !(o.metadata.finalizers ?? []).includes(FOREGROUND)) continue;
    if (dependentsOf(store, o.metadata.uid).length > 0) continue;
    const next = clone(o);
    next.metadata.finalizers = (o.metadata.finalizers ?? []).filter((f) => f !== FOREGROUND);
    store.replace(t, next, { keepStatus: true });
  }
}

function establish(store: Store, resource: ResourceType, crd: Obj): void {
  const spec = isObject(crd.spec) ? crd.spec : {};
  const types = typesOfCrd(crd);
  const [first] = types;
  if (first) store.resources.replace(first.group, first.plural, types);
  const status = isObject(crd.status) ? crd.status : {};
  const conditions = Array.isArray(status.conditions) ? status.conditions : [];
  const established = conditions.some((c) => isObject(c) && c.type === 'Established' && c.status === 'True');
  if (established && JSON.stringify(status.acceptedNames) === JSON.stringify(spec.names)) return;
  const at = now();
  const condition = (type: string, reason: string, message: string) => ({
    type,
    status: 'True',
    lastTransitionTime: at,
    reason,
    message,
  });
  const versions = Array.isArray(spec.versions) ? spec.versions.filter(isObject) : [];
  const stored = versions.find((v) => v.storage === true)?.name ?? versions[0]?.name;
  const next = clone(crd);
  next.status = {
    conditions: [
      condition('NamesAccepted', 'NoConflicts', 'no conflicts found'),
      condition('Established', 'InitialNamesAccepted', 'the initial names have been accepted'),
    ],
    acceptedNames: clone(spec.names ?? {}),
    storedVersions: stored ? [stored] : [],
  };
  store.replace(resource, next, { statusOnly: true });
}

function forgetCrd(store: Store, crd: Obj): void {
  const [first] = typesOfCrd(crd);
  if (!first) return;
  const served = store.resources.all().find((t) => storageKey(t) === storageKey(first));
  if (served) store.dropAll(served);
  store.resources.remove(first.group, first.plural);
}

function emptyNamespace(store: Store, namespace: string): void {
  for (const [t, o] of [...store.everything()]) {
    if (!t.namespaced || o.metadata.namespace !== namespace) continue;
    if (store.peek(t, namespace, o.metadata.name ?? ''))
      deleteObject(store, t, namespace, o.metadata.name ?? '');
  }
}

/** Wires the control plane's reactions to the store; returns the unsubscribe. */
export function startLifecycle(store: Store): () => void {
  return store.subscribe((event) => {
    const { object, resource } = event;
    const crd = resource.group === 'apiextensions.k8s.io' && resource.plural === 'customresourcedefinitions';
    if (event.type === 'DELETED') {
      if (crd) forgetCrd(store, object);
      if (resource.group === '' && resource.plural === 'namespaces')
        emptyNamespace(store, object.metadata.name ?? '');
      collectDependents(store, object);
      releaseForegroundOwners(store);
      return;
    }
    // Queued events may be stale by now: act on the object as it is.
    const current = store.peek(resource, object.metadata.namespace, object.metadata.name ?? '');
    if (!current) return;
    if (crd) establish(store, resource, current);
    const meta = current.metadata;
    if (!meta.deletionTimestamp) return;
    if ((meta.finalizers ?? []).length === 0) {
      store.drop(resource, meta.namespace, meta.name ?? '');
      return;
    }
    if ((meta.finalizers ?? []).includes(FOREGROUND)) {
      for (const [dt, dep] of dependentsOf(store, meta.uid)) {
        if (!dep.metadata.deletionTimestamp)
          deleteObject(store, dt, dep.metadata.namespace, dep.metadata.name ?? '', 'Foreground');
      }
      releaseForegroundOwners(store);
    }
  });
}
