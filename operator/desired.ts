/**
 * The objects an Aspect should own, computed from the Aspect, its parsed spec, its resolved
 * documents and the operator's settings (SPEC section 11, B.94): the home PVC `NAME-home`, the
 * ConfigMap `NAME-config` and the StatefulSet `NAME`. The token Secret is not here: it is written
 * only when a token is minted and never read back (B.61), so there is nothing to compare it with.
 */
import { createHash } from 'node:crypto';
import type { ParsedAspect } from '../protocol/aspect-resource.js';
import { namespaceOf, ownedLabels, ownerReferenceTo } from './meta.js';
import { mergePodSettings, podMetadataKeys, podTemplate, POD_METADATA_KEYS_ANNOTATION } from './pod-spec.js';
import {
  objectNames,
  TOKEN_ID_ANNOTATION,
  type AspectObject,
  type KubeObject,
  type OperatorSettings,
} from './types.js';

export interface DesiredInput {
  aspect: AspectObject;
  parsed: ParsedAspect;
  /** The identity documents and script.json by file name (operator/documents.ts). */
  documents: Record<string, string>;
  settings: OperatorSettings;
}

/** The metadata every owned object starts from. */
function ownedMeta(aspect: AspectObject, name: string) {
  return {
    name,
    namespace: namespaceOf(aspect),
    labels: ownedLabels(aspect.metadata.name),
    ownerReferences: [ownerReferenceTo(aspect)],
  };
}

/** The home PVC. Its spec is mostly immutable: plan() only ever grows its size. */
export function desiredPvc({ aspect, parsed }: Pick<DesiredInput, 'aspect' | 'parsed'>): KubeObject {
  const { home } = parsed.kube;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: ownedMeta(aspect, objectNames(aspect.metadata.name).pvc),
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: home.size } },
      ...(home.storageClassName !== undefined ? { storageClassName: home.storageClassName } : {}),
    },
  };
}

/** The ConfigMap `--config-from` copies into the home (B.31): aspect.json and the documents. */
export function desiredConfigMap({ aspect, parsed, documents }: Omit<DesiredInput, 'settings'>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: ownedMeta(aspect, objectNames(aspect.metadata.name).configMap),
    data: { 'aspect.json': `${JSON.stringify(parsed.config, null, 2)}\n`, ...documents },
  };
}

/** sha256 of a ConfigMap's data in key order: the pod template annotation that rolls the pod (B.94). */
export function configChecksum(data: Record<string, string>): string {
  const ordered = Object.keys(data)
    .sort()
    .map((key) => [key, data[key]]);
  return createHash('sha256').update(JSON.stringify(ordered)).digest('hex');
}

/**
 * The StatefulSet, carrying the id of the token its pod's Secret holds (B.94: on its own metadata,
 * so a new token does not restart the pod).
 */
export function desiredStatefulSet(
  input: Omit<DesiredInput, 'documents'> & { configMap: KubeObject; tokenId: string },
): KubeObject {
  const { aspect, parsed, settings } = input;
  const name = aspect.metadata.name;
  const meta = ownedMeta(aspect, objectNames(name).statefulSet);
  const pod = mergePodSettings(settings.aspectPodDefaults, parsed.kube.pod);
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: {
      ...meta,
      annotations: {
        [TOKEN_ID_ANNOTATION]: input.tokenId,
        [POD_METADATA_KEYS_ANNOTATION]: podMetadataKeys(name, pod),
      },
    },
    spec: {
      replicas: parsed.kube.suspend ? 0 : 1,
      selector: { matchLabels: ownedLabels(name) },
      template: podTemplate({
        aspect: name,
        image: parsed.kube.image ?? settings.runtimeImage,
        nexusUrl: settings.nexusUrl,
        configChecksum: configChecksum(input.configMap.data as Record<string, string>),
        ...(parsed.kube.resources ? { resources: parsed.kube.resources } : {}),
        pod,
      }),
    },
  };
}
