/**
 * The `Aspect` custom resource (SPEC section 11, B.30, B.65, B.66, B.100): its spec is aspect.json
 * camelCased, plus what only Kubernetes needs (identity sources, credentials, home, image, pod
 * settings). The operator turns a spec back into aspect.json by undoing the camelCase and parsing
 * it with the runtime's own `AspectConfig`, so every rule the runtime applies, CEL can express or
 * not, is applied before anything is written (B.96).
 */
import { z } from 'zod';
import { AspectConfig } from './aspect-config.js';
import { JsonObject, utf8Bytes } from './names.js';
import { fieldIssues } from './validation.js';

export const ASPECT_GROUP = 'nexus.dev';
export const ASPECT_VERSION = 'v1alpha1';
export const ASPECT_API_VERSION = `${ASPECT_GROUP}/${ASPECT_VERSION}`;
export const ASPECT_KIND = 'Aspect';
export const ASPECT_PLURAL = 'aspects';

/** An Aspect's name is its broker name and its StatefulSet's name (B.65: ≤ 52 characters). */
export const AspectResourceName = z
  .string()
  .max(52, 'must be at most 52 characters (a StatefulSet name limit)')
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label');

const ConfigMapKeyRef = z.strictObject({
  name: z.string().min(1).max(253),
  key: z.string().min(1).max(253),
});

/** An identity document or script.json: inline text or a ConfigMap key, exactly one (B.66). */
export const DocumentSource = z.union([
  z.strictObject({ value: z.string().max(65_536) }),
  z.strictObject({ configMapKeyRef: ConfigMapKeyRef }),
]);
export type DocumentSource = z.infer<typeof DocumentSource>;

/** Kubernetes core types are kept as written and checked by the API server when written (B.100). */
const KubeObject = JsonObject;
const KubeList = (max: number) => z.array(JsonObject).max(max);

/** `spec.pod` (B.100); `aspectDefaults.pod` has the same shape (B.102). */
export const PodSettings = z.strictObject({
  nodeSelector: z
    .record(z.string().max(253), z.string().max(63))
    .refine((m) => Object.keys(m).length <= 64, 'must have at most 64 keys')
    .optional(),
  tolerations: KubeList(32).optional(),
  affinity: KubeObject.optional(),
  topologySpreadConstraints: KubeList(8).optional(),
  priorityClassName: z.string().max(253).optional(),
  imagePullSecrets: z
    .array(z.strictObject({ name: z.string().min(1).max(253) }))
    .max(16)
    .optional(),
  serviceAccountName: z.string().max(253).optional(),
  labels: z.record(z.string().max(317), z.string().max(63)).optional(),
  annotations: z.record(z.string().max(317), z.string().max(65_536)).optional(),
  env: z
    .array(z.looseObject({ name: z.string().min(1).max(253) }))
    .max(64)
    .refine((list) => list.every((e) => !e.name.startsWith('NEXUS_')), 'names must not start with NEXUS_')
    .optional(),
  envFrom: KubeList(64).optional(),
  volumes: KubeList(16).optional(),
  volumeMounts: z
    .array(z.looseObject({ name: z.string().min(1).max(253), mountPath: z.string().min(1).max(4096) }))
    .max(16)
    .optional(),
  podSecurityContext: KubeObject.optional(),
  securityContext: KubeObject.optional(),
});
export type PodSettings = z.infer<typeof PodSettings>;

/** The fields of `spec` that are not aspect.json's. */
export const AspectKubeFields = z.strictObject({
  identity: z
    .strictObject({
      soul: DocumentSource.optional(),
      agent: DocumentSource.optional(),
      primer: DocumentSource.optional(),
    })
    .optional(),
  script: DocumentSource.optional(),
  credentials: z.array(z.string().min(1).max(253)).max(64).default([]),
  home: z
    .strictObject({
      size: z.string().max(64).default('1Gi'),
      storageClassName: z.string().max(253).optional(),
      retainOnDelete: z.boolean().default(true),
    })
    .default({ size: '1Gi', retainOnDelete: true }),
  image: z.string().min(1).max(1024).optional(),
  resources: KubeObject.optional(),
  suspend: z.boolean().default(false),
  pod: PodSettings.optional(),
});
export type AspectKubeFields = z.infer<typeof AspectKubeFields>;
export const KUBE_FIELD_NAMES = Object.keys(AspectKubeFields.shape);

/** Subtrees whose keys are user data, not field names: never camel- or snake-cased (B.66). */
export const PRESERVED_KEYS = new Set(['metadata', 'input_schema', 'env', 'inputSchema']);

export function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
export function camelCase(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Renames the keys of a JSON tree, leaving the subtrees of PRESERVED_KEYS as written. */
export function renameKeys(value: unknown, rename: (key: string) => string): unknown {
  if (Array.isArray(value)) return value.map((v) => renameKeys(v, rename));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    out[rename(key)] = PRESERVED_KEYS.has(key) ? child : renameKeys(child, rename);
  }
  return out;
}

/** What the operator reconciles from: the runtime's aspect.json and the Kubernetes fields. */
export interface ParsedAspect {
  config: AspectConfig;
  kube: AspectKubeFields;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; message: string };

/**
 * Parses an Aspect's spec as the runtime would parse the aspect.json it becomes. The message of a
 * refusal names the `spec.` path in the CRD's spelling, for status and Events (B.63: InvalidSpec).
 */
export function parseAspectSpec(name: string, spec: unknown): ParseResult<ParsedAspect> {
  const badName = AspectResourceName.safeParse(name);
  if (!badName.success) return { ok: false, message: `metadata.name: ${badName.error.issues[0]!.message}` };
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec))
    return { ok: false, message: 'spec: must be an object' };
  const kubePart: Record<string, unknown> = {};
  const configPart: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(spec)) {
    (KUBE_FIELD_NAMES.includes(key) ? kubePart : configPart)[key] = value;
  }
  if ('name' in configPart) return { ok: false, message: 'spec.name: is metadata.name, not a spec field' };
  const kube = AspectKubeFields.safeParse(kubePart);
  if (!kube.success) return { ok: false, message: describe(kube.error) };
  const config = AspectConfig.safeParse({ ...(renameKeys(configPart, snakeCase) as object), name });
  if (!config.success) return { ok: false, message: describe(config.error, camelCase) };
  if (utf8Bytes(JSON.stringify(spec)) > 1024 * 1024)
    return { ok: false, message: 'spec: must be at most 1 MiB' };
  return { ok: true, value: { config: config.data, kube: kube.data } };
}

/** "spec.path: reason" for the first issue, the path spelt as in the CRD. */
function describe(error: z.ZodError, rename: (key: string) => string = (k) => k): string {
  const first = fieldIssues(error)[0];
  if (!first) return 'spec: invalid';
  const path = first.path === '(root)' ? '' : first.path.replace(/[a-z0-9_]+/gi, (k) => rename(k));
  return `spec${path === '' || path.startsWith('[') ? '' : '.'}${path}: ${first.message}`;
}

/** The condition types of an Aspect's status, in the order they are reported (B.106). */
export const CONDITION_TYPES = ['HomeReady', 'TokenReady', 'PodReady', 'Registered', 'Ready'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export const AspectCondition = z.strictObject({
  type: z.enum(CONDITION_TYPES),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().min(1).max(1024),
  message: z.string().min(1).max(32_768),
  observedGeneration: z.number().int().min(0),
  lastTransitionTime: z.string().max(64),
});
export type AspectCondition = z.infer<typeof AspectCondition>;

export const AspectPhase = z.enum(['Pending', 'Running', 'Suspended', 'Failed']);
export type AspectPhase = z.infer<typeof AspectPhase>;

export const AspectStatus = z.strictObject({
  phase: AspectPhase.optional(),
  observedGeneration: z.number().int().min(0).optional(),
  registered: z.boolean().optional(),
  lastHeartbeat: z.string().max(64).optional(),
  conditions: z.array(AspectCondition).max(8).optional(),
});
export type AspectStatus = z.infer<typeof AspectStatus>;

/**
 * The closed list of condition reasons, documented in the CRD's description (B.106). PodReady's
 * waiting reasons are copied from the pod as Kubernetes names them.
 */
export const CONDITION_REASONS = [
  'Reconciled',
  'InvalidSpec',
  'Suspended',
  'Deleting',
  'ConfigMapMissing',
  'BrokerUnavailable',
  'ClaimBound',
  'ClaimPending',
  'TokenWritten',
  'TokenPending',
  'PodRunning',
  'PodPending',
  'NoPod',
  'ContainersNotReady',
  'Unschedulable',
  'ImagePullBackOff',
  'ErrImagePull',
  'CrashLoopBackOff',
  'CreateContainerConfigError',
  'Live',
  'Stale',
  'NotRegistered',
  'Down',
  'NameInUse',
  'Ready',
  'NotReady',
] as const;
export type ConditionReason = (typeof CONDITION_REASONS)[number];
