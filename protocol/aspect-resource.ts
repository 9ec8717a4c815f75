/**
 * The `Aspect` custom resource (SPEC section 11, B.30, B.65, B.66, B.100): its spec is aspect.json
 * camelCased, plus what only Kubernetes needs (identity sources, credentials, home, image, pod
 * settings). The operator turns a spec back into aspect.json by undoing the camelCase and parsing
 * it with the runtime's own `AspectConfig`, so every rule the runtime applies, CEL can express or
 * not, is applied before anything is written (B.96).
 */
import { z } from 'zod';
import { AspectConfig, AspectConfigFields } from './aspect-config.js';
import { JsonObject, utf8Bytes } from './names.js';
import { Script } from './script.js';
import { fieldIssues, firstIssueText } from './validation.js';

export {
  AspectCondition,
  AspectPhase,
  AspectStatus,
  CONDITION_REASONS,
  CONDITION_TYPES,
  type ConditionReason,
  type ConditionType,
} from './aspect-status.js';

export const ASPECT_GROUP = 'nexus.dev';
export const ASPECT_VERSION = 'v1alpha1';
export const ASPECT_API_VERSION = `${ASPECT_GROUP}/${ASPECT_VERSION}`;
export const ASPECT_KIND = 'Aspect';
export const ASPECT_PLURAL = 'aspects';

export const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** An Aspect's name is its broker name and its StatefulSet's name (B.65: ≤ 52 characters). */
export const AspectResourceName = z
  .string()
  .max(52, 'must be at most 52 characters (a StatefulSet name limit)')
  .regex(DNS_1123_LABEL, 'must be a DNS-1123 label');

const ConfigMapKeyRef = z.strictObject({
  name: z.string().min(1).max(253),
  key: z.string().min(1).max(253),
});
type ConfigMapKeyRef = z.infer<typeof ConfigMapKeyRef>;

/** An identity document or script.json: inline text or a ConfigMap key, exactly one (B.66). */
export type DocumentSource = { value: string } | { configMapKeyRef: ConfigMapKeyRef };
export const EXACTLY_ONE_SOURCE = 'must have exactly one of value and configMapKeyRef';

/**
 * One object with both fields optional and an exactly-one rule, not a union: this is the shape a
 * structural CRD schema can state (the CEL rule of protocol/crd/rules.ts says the same), and it lets
 * an over-long `value` be reported as such rather than as "no union member matched". The byte limit
 * is B.43's; the character limit (B.65) bounds CEL cost and is what the API server checks.
 */
function documentSource(maxChars: number, maxBytes: number) {
  return z
    .strictObject({
      value: z
        .string()
        .max(maxChars, `must be at most ${maxChars} characters`)
        .refine((s) => utf8Bytes(s) <= maxBytes, `must be at most ${maxBytes / 1024} KiB of UTF-8`)
        .optional(),
      configMapKeyRef: ConfigMapKeyRef.optional(),
    })
    .refine((s) => (s.value === undefined) !== (s.configMapKeyRef === undefined), EXACTLY_ONE_SOURCE)
    .transform((s): DocumentSource =>
      s.value !== undefined ? { value: s.value } : { configMapKeyRef: s.configMapKeyRef! },
    );
}
/** SOUL.md, AGENT.md, PRIMER.md: prompts, at most 65,536 characters (B.65) and 64 KiB (B.43). */
export const DocumentSource = documentSource(65_536, 64 * 1024);
/** script.json: at most 256 KiB (B.43). */
export const ScriptSource = documentSource(256 * 1024, 256 * 1024);

/**
 * Paths inside a runtime pod: the home PVC, the ConfigMap copied in by --config-from, the token.
 * Here rather than in operator/ because the CRD's rules refuse mounts under the home (B.100).
 */
export const POD_PATHS = {
  home: '/nexus/home',
  config: '/nexus/config',
  tokenDir: '/nexus/token',
  tokenFile: '/nexus/token/token',
  tmp: '/tmp',
};

/**
 * A mount path the kubelet will not clean up into something else: absolute, no `.`, `..` or `//`.
 * Strings, not RegExps: they are also written into CEL rules (RE2), and a RegExp's source escapes `/`.
 */
export const CLEAN_MOUNT_PATH = '^(/[^/]+)+/?$';
export const DOT_SEGMENT = '/[.][.]?(/|$)';
export const MOUNT_PATH_RULE = 'must be an absolute path without ".", ".." or empty segments';
export const MOUNT_UNDER_HOME_RULE = `must not be ${POD_PATHS.home} or under it (the home volume)`;

/** Whether a clean mount path is the home or inside it, where a mount would hide the sessions. */
export function isUnderHome(mountPath: string): boolean {
  return mountPath === POD_PATHS.home || mountPath.startsWith(`${POD_PATHS.home}/`);
}

/** A Kubernetes resource quantity (`1Gi`, `500M`, `1.5e9`), as the API server parses it. */
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?(\d+(\.\d*)?|\.\d+))?$/;

/** A string-to-string map with at most `max` keys; `maxProperties` is what the CRD states (B.65). */
function boundedMap(key: z.ZodString, value: z.ZodString, max: number) {
  return z
    .record(key, value)
    .refine((m) => Object.keys(m).length <= max, `must have at most ${max} keys`)
    .meta({ maxProperties: max });
}

/** Kubernetes core types are kept as written and checked by the API server when written (B.100). */
const KubeObject = JsonObject;
const KubeList = (max: number) => z.array(JsonObject).max(max);

/** `spec.pod` (B.100); `aspectDefaults.pod` has the same shape (B.102). */
export const PodSettings = z.strictObject({
  nodeSelector: boundedMap(z.string().max(253), z.string().max(63), 64).optional(),
  tolerations: KubeList(32).optional(),
  affinity: KubeObject.optional(),
  topologySpreadConstraints: KubeList(8).optional(),
  priorityClassName: z.string().max(253).optional(),
  imagePullSecrets: z
    .array(z.strictObject({ name: z.string().min(1).max(253) }))
    .max(16)
    .optional(),
  serviceAccountName: z.string().max(253).optional(),
  labels: boundedMap(z.string().max(317), z.string().max(63), 64).optional(),
  annotations: boundedMap(z.string().max(317), z.string().max(65_536), 64).optional(),
  env: z
    .array(
      z.looseObject({
        name: z
          .string()
          .min(1)
          .max(253)
          .refine(
            (name) => !name.startsWith('NEXUS_'),
            'must not start with NEXUS_ (the operator sets those)',
          ),
      }),
    )
    .max(64)
    .optional(),
  envFrom: KubeList(64).optional(),
  volumes: KubeList(16).optional(),
  volumeMounts: z
    .array(
      z.looseObject({
        name: z.string().min(1).max(253),
        mountPath: z
          .string()
          .min(1)
          .max(4096)
          .refine(
            (p) => new RegExp(CLEAN_MOUNT_PATH).test(p) && !new RegExp(DOT_SEGMENT).test(p),
            MOUNT_PATH_RULE,
          )
          .refine((p) => !isUnderHome(p), MOUNT_UNDER_HOME_RULE),
      }),
    )
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
  script: ScriptSource.optional(),
  credentials: z.array(z.string().min(1).max(253)).max(64).default([]),
  home: z
    .strictObject({
      size: z.string().max(64).regex(QUANTITY, 'must be a Kubernetes quantity such as 1Gi').default('1Gi'),
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
  // Undoing the camelCase would also accept aspect.json's own spelling, which the CRD prunes.
  const snake = notCamelCase(configPart, 'spec');
  if (snake)
    return { ok: false, message: `${snake.path}: is not a known field (the CRD spells it ${snake.camel})` };
  const kube = AspectKubeFields.safeParse(kubePart);
  if (!kube.success) return { ok: false, message: describe(kube.error) };
  const script = scriptProblem(kube.data.script);
  if (script) return { ok: false, message: script };
  const config = AspectConfig.safeParse({ ...(renameKeys(configPart, snakeCase) as object), name });
  if (!config.success) return { ok: false, message: describe(config.error, camelCase, camelCaseFieldNames) };
  if (utf8Bytes(JSON.stringify(spec)) > 1024 * 1024)
    return { ok: false, message: 'spec: must be at most 1 MiB' };
  return { ok: true, value: { config: config.data, kube: kube.data } };
}

/** An inline script.json is checked as the scripted provider will read it (B.52); a ConfigMap's when read. */
function scriptProblem(source: DocumentSource | undefined): string | null {
  if (!source || !('value' in source)) return null;
  let json: unknown;
  try {
    json = JSON.parse(source.value);
  } catch {
    return 'spec.script.value: must be JSON (script.json)';
  }
  const script = Script.safeParse(json);
  return script.success ? null : `spec.script.value: ${firstIssueText(script.error)}`;
}

/** The first key, outside the subtrees kept as written, that camelCasing would change. */
function notCamelCase(value: unknown, path: string): { path: string; camel: string } | null {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = notCamelCase(item, `${path}[${i}]`);
      if (found) return found;
    }
    return null;
  }
  if (value === null || typeof value !== 'object') return null;
  for (const [key, child] of Object.entries(value)) {
    if (camelCase(key) !== key) return { path: `${path}.${key}`, camel: camelCase(key) };
    const found = PRESERVED_KEYS.has(key) ? null : notCamelCase(child, `${path}.${key}`);
    if (found) return found;
  }
  return null;
}

/** "spec.path: reason" for the first issue, the path spelt as in the CRD. */
function describe(
  error: z.ZodError,
  rename: (key: string) => string = (k) => k,
  reword: (message: string) => string = (m) => m,
): string {
  const first = fieldIssues(error)[0];
  if (!first) return 'spec: invalid';
  const path = first.path === '(root)' ? '' : first.path.replace(/[a-z0-9_]+/gi, (k) => rename(k));
  return `spec${path === '' || path.startsWith('[') ? '' : '.'}${path}: ${reword(first.message)}`;
}

/** aspect.json's snake_case field names: the runtime's messages name them, the CRD spells them camelCase. */
let snakeFieldNames: RegExp | undefined;
function camelCaseFieldNames(message: string): string {
  if (!snakeFieldNames) {
    const names = new Set<string>();
    const collect = (node: unknown): void => {
      if (node === null || typeof node !== 'object') return;
      for (const [key, child] of Object.entries(node)) {
        if (key === 'properties' && child && typeof child === 'object')
          for (const name of Object.keys(child)) if (name.includes('_')) names.add(name);
        collect(child);
      }
    };
    collect(z.toJSONSchema(AspectConfigFields, { io: 'input' }));
    // Longest first, so `max_output_tokens` is not read as a shorter name inside it.
    const alternatives = [...names].sort((a, b) => b.length - a.length).join('|');
    snakeFieldNames = new RegExp(`\\b(${alternatives})\\b`, 'g');
  }
  return message.replace(snakeFieldNames, (name) => camelCase(name));
}
