/**
 * Stand-ins for the cluster's controllers, OFF unless a test starts them (and says so):
 * - StatefulSets: pods `NAME-0 … NAME-(replicas-1)` from the template (owned by the set, labelled
 *   with the template's `controller-revision-hash`), their volumeClaimTemplates' PVCs
 *   `CLAIM-NAME-ORDINAL`, re-created when deleted, deleted and re-created when the template
 *   changes (a roll), deleted on scale-down; the set's status (replicas, readyReplicas,
 *   revisions, observedGeneration) follows its pods. Pods start Pending: a test marks them
 *   Ready, Unschedulable or waiting with the pod helpers.
 * - A PVC binder: every claim becomes Bound (a made-up volume name, capacity as requested).
 * Writes go straight to the store, as controllers inside the cluster would; they do not show in
 * the request log.
 */
import { createHash } from 'node:crypto';
import { isPodReady } from './pod-status.js';
import type { Store } from './store.js';
import { clone, isObject, type Obj, type ResourceType } from './types.js';

const templateHash = (template: unknown) =>
  createHash('sha256')
    .update(JSON.stringify(template ?? {}))
    .digest('hex')
    .slice(0, 10);

function must(store: Store, group: string, plural: string): ResourceType {
  const t = store.resources.all().find((r) => r.group === group && r.plural === plural);
  if (!t) throw new Error(`the double serves no ${plural}`);
  return t;
}

function podFor(sts: Obj, ordinal: number, hash: string): Obj {
  const spec = isObject(sts.spec) ? sts.spec : {};
  const template = isObject(spec.template) ? clone(spec.template) : {};
  const tmeta = isObject(template.metadata) ? template.metadata : {};
  const name = `${sts.metadata.name}-${ordinal}`;
  const podSpec: Record<string, unknown> = isObject(template.spec) ? { ...template.spec } : {};
  const claims = Array.isArray(spec.volumeClaimTemplates) ? spec.volumeClaimTemplates.filter(isObject) : [];
  const volumes = Array.isArray(podSpec.volumes) ? [...podSpec.volumes] : [];
  for (const claim of claims) {
    const claimName = String(isObject(claim.metadata) ? claim.metadata.name : 'data');
    volumes.push({
      name: claimName,
      persistentVolumeClaim: { claimName: `${claimName}-${sts.metadata.name}-${ordinal}` },
    });
  }
  if (volumes.length > 0) podSpec.volumes = volumes;
  podSpec.hostname = name;
  if (typeof spec.serviceName === 'string') podSpec.subdomain = spec.serviceName;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: sts.metadata.namespace,
      labels: {
        ...(isObject(tmeta.labels) ? (tmeta.labels as Record<string, string>) : {}),
        'controller-revision-hash': `${sts.metadata.name}-${hash}`,
        'statefulset.kubernetes.io/pod-name': name,
        'apps.kubernetes.io/pod-index': String(ordinal),
      },
      ...(isObject(tmeta.annotations) ? { annotations: tmeta.annotations as Record<string, string> } : {}),
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'StatefulSet',
          name: sts.metadata.name ?? '',
          uid: sts.metadata.uid ?? '',
          controller: true,
        },
      ],
    },
    spec: podSpec,
    status: { phase: 'Pending' },
  };
}

function ownedBy(pod: Obj, sts: Obj): boolean {
  return (pod.metadata.ownerReferences ?? []).some((r) => r.uid === sts.metadata.uid);
}

function syncStatefulSet(store: Store, sts: Obj): void {
  const podType = must(store, '', 'pods');
  const pvcType = must(store, '', 'persistentvolumeclaims');
  const stsType = must(store, 'apps', 'statefulsets');
  const spec = isObject(sts.spec) ? sts.spec : {};
  const replicas = typeof spec.replicas === 'number' ? spec.replicas : 1;
  const hash = templateHash(spec.template);
  const namespace = sts.metadata.namespace;
  if (!sts.metadata.deletionTimestamp) {
    for (let ordinal = 0; ordinal < replicas; ordinal++) {
      const wanted = podFor(sts, ordinal, hash);
      for (const claim of (Array.isArray(spec.volumeClaimTemplates) ? spec.volumeClaimTemplates : []).filter(
        isObject,
      )) {
        const claimName = String(isObject(claim.metadata) ? claim.metadata.name : 'data');
        const pvcName = `${claimName}-${sts.metadata.name}-${ordinal}`;
        if (!store.peek(pvcType, namespace, pvcName)) {
          const labels =
            isObject(spec.selector) && isObject(spec.selector.matchLabels) ? spec.selector.matchLabels : {};
          store.create(pvcType, {
            apiVersion: 'v1',
            kind: 'PersistentVolumeClaim',
            metadata: { name: pvcName, namespace, labels: labels as Record<string, string> },
            spec: clone(claim.spec ?? {}),
          });
        }
      }
      const existing = store.peek(podType, namespace, wanted.metadata.name ?? '');
      if (
        existing &&
        existing.metadata.labels?.['controller-revision-hash'] !==
          wanted.metadata.labels?.['controller-revision-hash']
      ) {
        if (!existing.metadata.deletionTimestamp)
          store.drop(podType, namespace, existing.metadata.name ?? '');
        continue; // the DELETED event brings us back to create the new revision
      }
      if (!existing) store.create(podType, wanted, { keepStatus: true });
    }
  }
  for (const pod of store.list(podType, namespace).filter((p) => ownedBy(p, sts))) {
    const ordinal = Number(pod.metadata.labels?.['apps.kubernetes.io/pod-index']);
    if (ordinal >= replicas && store.peek(podType, namespace, pod.metadata.name ?? ''))
      store.drop(podType, namespace, pod.metadata.name ?? '');
  }
  const pods = store.list(podType, namespace).filter((p) => ownedBy(p, sts));
  const current = store.peek(stsType, namespace, sts.metadata.name ?? '');
  if (!current) return;
  const revision = `${sts.metadata.name}-${hash}`;
  const updated = pods.filter((p) => p.metadata.labels?.['controller-revision-hash'] === revision).length;
  const ready = pods.filter(isPodReady).length;
  const status = {
    observedGeneration: current.metadata.generation,
    replicas: pods.length,
    readyReplicas: ready,
    availableReplicas: ready,
    currentReplicas: updated,
    updatedReplicas: updated,
    currentRevision: revision,
    updateRevision: revision,
    collisionCount: 0,
  };
  if (JSON.stringify(current.status) !== JSON.stringify(status)) {
    store.replace(stsType, { ...clone(current), status }, { statusOnly: true });
  }
}

export function startStatefulSetController(store: Store): () => void {
  const stsType = must(store, 'apps', 'statefulsets');
  const syncAll = (namespace?: string) => {
    for (const sts of store.list(stsType, namespace)) syncStatefulSet(store, sts);
  };
  syncAll();
  return store.subscribe((event) => {
    const { resource, object } = event;
    if (resource.group === 'apps' && resource.plural === 'statefulsets') {
      const current = store.peek(resource, object.metadata.namespace, object.metadata.name ?? '');
      if (current) syncStatefulSet(store, store.view(resource, current));
    } else if (resource.group === '' && resource.plural === 'pods') {
      const owner = (object.metadata.ownerReferences ?? []).find((r) => r.kind === 'StatefulSet');
      if (!owner) return;
      const sts = store.list(stsType, object.metadata.namespace).find((s) => s.metadata.uid === owner.uid);
      if (sts) syncStatefulSet(store, sts);
    }
  });
}

export function startPvcBinder(store: Store): () => void {
  const pvcType = must(store, '', 'persistentvolumeclaims');
  const bind = (pvc: Obj) => {
    const status = isObject(pvc.status) ? pvc.status : {};
    if (status.phase === 'Bound' || pvc.metadata.deletionTimestamp) return;
    const spec = isObject(pvc.spec) ? pvc.spec : {};
    const requests =
      isObject(spec.resources) && isObject(spec.resources.requests) ? spec.resources.requests : {};
    const next = clone(pvc);
    next.spec = { ...spec, volumeName: `pvc-${pvc.metadata.uid}` };
    next.status = {
      phase: 'Bound',
      accessModes: spec.accessModes ?? ['ReadWriteOnce'],
      capacity: { storage: requests.storage ?? '1Gi' },
    };
    store.replace(pvcType, next, { keepStatus: true });
  };
  for (const pvc of store.list(pvcType)) bind(pvc);
  return store.subscribe((event) => {
    if (
      event.resource.group !== '' ||
      event.resource.plural !== 'persistentvolumeclaims' ||
      event.type === 'DELETED'
    )
      return;
    const current = store.peek(pvcType, event.object.metadata.namespace, event.object.metadata.name ?? '');
    if (current) bind(store.view(pvcType, current));
  });
}
