/**
 * The REST paths of the kinds the operator reads and writes. A fixed table, not discovery: the
 * operator knows its kinds, and discovery would cost requests against the write budget's limiter.
 */
import type { ObjectRef } from '../types.js';

export const ASPECT_API_VERSION = 'nexus.dev/v1alpha1';

interface Resource {
  plural: string;
  namespaced: boolean;
}

const RESOURCES: Record<string, Resource> = {
  [`${ASPECT_API_VERSION}/Aspect`]: { plural: 'aspects', namespaced: true },
  'v1/PersistentVolumeClaim': { plural: 'persistentvolumeclaims', namespaced: true },
  'v1/ConfigMap': { plural: 'configmaps', namespaced: true },
  'v1/Secret': { plural: 'secrets', namespaced: true },
  'v1/Pod': { plural: 'pods', namespaced: true },
  'v1/Event': { plural: 'events', namespaced: true },
  'v1/Namespace': { plural: 'namespaces', namespaced: false },
  'apps/v1/StatefulSet': { plural: 'statefulsets', namespaced: true },
  'coordination.k8s.io/v1/Lease': { plural: 'leases', namespaced: true },
};

function resourceOf(apiVersion: string, kind: string): Resource {
  const resource = RESOURCES[`${apiVersion}/${kind}`];
  if (!resource) throw new Error(`the operator has no REST path for ${kind} (${apiVersion})`);
  return resource;
}

/** `/api/v1/namespaces/NS/configmaps`, or the cluster-wide list when `namespace` is undefined. */
export function collectionPath(apiVersion: string, kind: string, namespace?: string): string {
  const { plural, namespaced } = resourceOf(apiVersion, kind);
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return namespaced && namespace !== undefined
    ? `${base}/namespaces/${encodeURIComponent(namespace)}/${plural}`
    : `${base}/${plural}`;
}

/** The path of one object, or of its subresource (`status`). */
export function objectPath(ref: ObjectRef, subresource?: string): string {
  const path = `${collectionPath(ref.apiVersion, ref.kind, ref.namespace)}/${encodeURIComponent(ref.name)}`;
  return subresource ? `${path}/${subresource}` : path;
}
