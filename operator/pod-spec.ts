/**
 * The pod template of an Aspect's StatefulSet: the runtime container with its env, volumes,
 * probes and a restricted security context (B.31, B.70, B.101), with the pod settings of B.100
 * merged over the operator's defaults of B.102. Pure: data in, data out.
 */
import type { PodSettings } from '../protocol/aspect-resource.js';
import { ownedLabels } from './meta.js';
import { CONFIG_CHECKSUM_ANNOTATION, POD_PATHS, objectNames } from './types.js';

type Json = Record<string, unknown>;

/** The runtime's metrics and probe port (B.31, B.85): fixed inside the pod. */
export const RUNTIME_METRICS_PORT = 9464;
export const CONTAINER_NAME = 'runtime';
/** The pod's own volumes; a `spec.pod.volumes` entry may not take these names. */
export const VOLUME_NAMES = { home: 'nexus-home', config: 'nexus-config', token: 'nexus-token', tmp: 'tmp' };
const RESERVED_VOLUME_NAMES = new Set(Object.values(VOLUME_NAMES));
/** Env the operator sets; a user entry of the same name is dropped so ours is the only one. */
const OPERATOR_ENV = ['NEXUS_URL', 'NEXUS_TOKEN_FILE', 'METRICS_PORT'];

/** B.101's restricted defaults; `spec.pod.podSecurityContext` / `securityContext` override them. */
export const RESTRICTED_POD_SECURITY: Json = {
  runAsNonRoot: true,
  runAsUser: 1000,
  runAsGroup: 1000,
  fsGroup: 1000,
  seccompProfile: { type: 'RuntimeDefault' },
};
export const RESTRICTED_CONTAINER_SECURITY: Json = {
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  readOnlyRootFilesystem: true,
};

function isPlainObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Maps merged key by key (recursively), lists and scalars replaced, `over` winning (B.102). */
export function mergeMaps(under: Json, over: Json): Json {
  const out: Json = { ...under };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const below = out[key];
    out[key] = isPlainObject(below) && isPlainObject(value) ? mergeMaps(below, value) : value;
  }
  return out;
}

/** An Aspect's `spec.pod` over the operator's `ASPECT_POD_DEFAULTS` (B.102). */
export function mergePodSettings(defaults: Json, aspect: PodSettings | undefined): PodSettings {
  return mergeMaps(defaults, (aspect ?? {}) as Json) as PodSettings;
}

/** A pod setting the API server would take but the pod could not run with, or null (B.100). */
export function podSettingsProblem(pod: PodSettings): string | null {
  for (const [i, volume] of (pod.volumes ?? []).entries()) {
    if (RESERVED_VOLUME_NAMES.has(String(volume.name)))
      return `spec.pod.volumes[${i}].name: ${String(volume.name)} is the name of a volume the operator mounts`;
  }
  for (const [i, mount] of (pod.volumeMounts ?? []).entries()) {
    const at = mount.mountPath.replace(/\/+$/, '');
    for (const ours of [POD_PATHS.home, POD_PATHS.config, POD_PATHS.tokenDir, POD_PATHS.tmp]) {
      if (at === ours || at.startsWith(`${ours}/`) || ours.startsWith(`${at}/`))
        return `spec.pod.volumeMounts[${i}].mountPath: must not be at or under ${ours}, or above it`;
    }
  }
  return null;
}

export interface PodTemplateInput {
  aspect: string;
  image: string;
  nexusUrl: string;
  configChecksum: string;
  resources?: Json;
  /** `spec.pod` already merged over the defaults. */
  pod: PodSettings;
}

/** The StatefulSet's `spec.template`. */
export function podTemplate(input: PodTemplateInput): Json {
  const { pod } = input;
  const names = objectNames(input.aspect);
  // B.94's labels and checksum win over the user's on conflict (B.100).
  const labels = { ...(pod.labels ?? {}), ...ownedLabels(input.aspect) };
  const annotations = { ...(pod.annotations ?? {}), [CONFIG_CHECKSUM_ANNOTATION]: input.configChecksum };
  const userEnv = (pod.env ?? []).filter((e) => !OPERATOR_ENV.includes(e.name));
  const container: Json = {
    name: CONTAINER_NAME,
    image: input.image,
    // The image's entrypoint is `nexus` (Dockerfile.runtime); --config-from copies the ConfigMap in.
    args: ['agent', POD_PATHS.home, '--config-from', POD_PATHS.config],
    env: [
      { name: 'NEXUS_URL', value: input.nexusUrl },
      { name: 'NEXUS_TOKEN_FILE', value: POD_PATHS.tokenFile },
      { name: 'METRICS_PORT', value: String(RUNTIME_METRICS_PORT) },
      ...userEnv,
    ],
    ...(pod.envFrom ? { envFrom: pod.envFrom } : {}),
    ports: [{ name: 'metrics', containerPort: RUNTIME_METRICS_PORT, protocol: 'TCP' }],
    volumeMounts: [
      { name: VOLUME_NAMES.home, mountPath: POD_PATHS.home },
      { name: VOLUME_NAMES.config, mountPath: POD_PATHS.config, readOnly: true },
      { name: VOLUME_NAMES.token, mountPath: POD_PATHS.tokenDir, readOnly: true },
      { name: VOLUME_NAMES.tmp, mountPath: POD_PATHS.tmp },
      ...(pod.volumeMounts ?? []),
    ],
    ...(input.resources ? { resources: input.resources } : {}),
    // /healthz answers while the process runs; /readyz once the runtime is connected (B.70).
    livenessProbe: httpProbe('/healthz', 10, 3),
    readinessProbe: httpProbe('/readyz', 5, 3),
    securityContext: mergeMaps(RESTRICTED_CONTAINER_SECURITY, pod.securityContext ?? {}),
  };
  const spec: Json = {
    // The runtime talks only to the broker: no Kubernetes credentials in its pod (B.101).
    automountServiceAccountToken: false,
    // Service links would put NEXUS_* variables of a Service named `nexus` into the env.
    enableServiceLinks: false,
    securityContext: mergeMaps(RESTRICTED_POD_SECURITY, pod.podSecurityContext ?? {}),
    containers: [container],
    volumes: [
      { name: VOLUME_NAMES.home, persistentVolumeClaim: { claimName: names.pvc } },
      { name: VOLUME_NAMES.config, configMap: { name: names.configMap } },
      // Mounted as a folder, not a subPath, so a rotated token reaches the running pod (B.72).
      { name: VOLUME_NAMES.token, secret: { secretName: names.secret, defaultMode: 0o440 } },
      { name: VOLUME_NAMES.tmp, emptyDir: {} },
      ...(pod.volumes ?? []),
    ],
    ...pick(pod, OPTIONAL_POD_KEYS),
  };
  return { metadata: { labels, annotations }, spec };
}

/** On the StatefulSet: the pod-template label and annotation keys that came from `spec.pod`. */
export const POD_METADATA_KEYS_ANNOTATION = 'nexus.dev/pod-metadata-keys';

/**
 * The annotation's value: the keys of `spec.pod.labels` / `annotations` the template carries,
 * sorted (stable JSON); those the operator owns are left out, so they are never removed.
 */
export function podMetadataKeys(aspect: string, pod: PodSettings): string {
  const owned = new Set([...Object.keys(ownedLabels(aspect)), CONFIG_CHECKSUM_ANNOTATION]);
  const keys = (map: Record<string, string> | undefined) =>
    Object.keys(map ?? {})
      .filter((k) => !owned.has(k))
      .sort();
  return JSON.stringify({ labels: keys(pod.labels), annotations: keys(pod.annotations) });
}

/** The pod spec keys that come only from `spec.pod`: removed from the template when unset. */
export const OPTIONAL_POD_KEYS = [
  'nodeSelector',
  'tolerations',
  'affinity',
  'topologySpreadConstraints',
  'priorityClassName',
  'imagePullSecrets',
  'serviceAccountName',
];

function pick(from: PodSettings, keys: string[]): Json {
  const source = from as Json;
  return Object.fromEntries(keys.filter((k) => source[k] !== undefined).map((k) => [k, source[k]]));
}

function httpProbe(path: string, periodSeconds: number, failureThreshold: number): Json {
  return { httpGet: { path, port: 'metrics' }, periodSeconds, failureThreshold };
}
