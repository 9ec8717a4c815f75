/**
 * `plan(desired, observed)`: the writes that make the observed objects what the operator wants,
 * in order; none when they already are (B.63, B.64). Pure: the caller applies the actions.
 *
 * Per kind:
 * - StatefulSet: a merge patch of what differs (operator/diff.ts). The pod template's labels and
 *   annotations are shared with others (`kubectl rollout restart` adds one), so only the keys the
 *   operator set from `spec.pod` before, recorded in POD_METADATA_KEYS_ANNOTATION, are removed
 *   when they leave the spec. The selector is immutable and always the same.
 * - ConfigMap: `data` is the whole truth.
 * - PVC: its spec is immutable but for the size, which may only grow (a smaller or re-classed
 *   `spec.home` is ignored: shrinking is not possible and the data must not be lost). Labels and
 *   the owner reference are kept; an existing claim without our reference (a home retained from a
 *   deleted Aspect of the same name, B.62) is adopted.
 * Any owner reference another owner holds on the object is kept beside ours.
 */
import { mergePatch, type DiffRules } from './diff.js';
import { refOf } from './meta.js';
import { OPTIONAL_POD_KEYS, POD_METADATA_KEYS_ANNOTATION } from './pod-spec.js';
import { parseQuantity } from './quantity.js';
import type { KubeObject, ObjectRef, OwnerReference } from './types.js';

export type Action =
  { kind: 'create'; object: KubeObject } | { kind: 'patch'; ref: ObjectRef; patch: Record<string, unknown> };

const TEMPLATE = 'spec.template';
/** StatefulSet and ConfigMap: where an absent desired key means "remove it". */
const OBJECT_RULES: DiffRules = {
  exact: [
    'data',
    `${TEMPLATE}.spec.securityContext`,
    `${TEMPLATE}.spec.containers[].securityContext`,
    `${TEMPLATE}.spec.nodeSelector`,
    `${TEMPLATE}.spec.affinity`,
  ],
  removable: [
    ...OPTIONAL_POD_KEYS.map((key) => `${TEMPLATE}.spec.${key}`),
    `${TEMPLATE}.spec.containers[].resources`,
    `${TEMPLATE}.spec.containers[].envFrom`,
  ],
};

/** The actions for each desired object against its observed one (undefined: not there). */
export function plan(pairs: { desired: KubeObject; observed: KubeObject | undefined }[]): Action[] {
  return pairs.flatMap(({ desired, observed }) => {
    const action = planObject(desired, observed);
    return action ? [action] : [];
  });
}

/** One object's create, patch, or null when it already is as desired. */
export function planObject(desired: KubeObject, observed: KubeObject | undefined): Action | null {
  if (!observed) return { kind: 'create', object: desired };
  const patch =
    desired.kind === 'PersistentVolumeClaim' ? pvcPatch(desired, observed) : objectPatch(desired, observed);
  return patch ? { kind: 'patch', ref: refOf(observed), patch } : null;
}

function objectPatch(desired: KubeObject, observed: KubeObject): Record<string, unknown> | undefined {
  const target = {
    ...desired,
    metadata: { ...desired.metadata, ownerReferences: ownersFor(desired, observed) },
  };
  const rules = desired.kind === 'StatefulSet' ? withDroppedTemplateKeys(observed) : OBJECT_RULES;
  return mergePatch(stripIdentity(target), observed, rules) as Record<string, unknown> | undefined;
}

function pvcPatch(desired: KubeObject, observed: KubeObject): Record<string, unknown> | undefined {
  const target: Record<string, unknown> = {
    metadata: { labels: desired.metadata.labels, ownerReferences: ownersFor(desired, observed) },
  };
  const want = storageOf(desired);
  const have = storageOf(observed);
  const wantBytes = parseQuantity(want);
  const haveBytes = parseQuantity(have);
  if (wantBytes !== null && haveBytes !== null && wantBytes > haveBytes)
    target.spec = { resources: { requests: { storage: want } } };
  return mergePatch(target, observed) as Record<string, unknown> | undefined;
}

function storageOf(object: KubeObject): unknown {
  const spec = object.spec as { resources?: { requests?: { storage?: unknown } } } | undefined;
  return spec?.resources?.requests?.storage;
}

/** The observed owner references with ours in place (added, or replacing a stale one). */
function ownersFor(desired: KubeObject, observed: KubeObject): OwnerReference[] {
  const ours = desired.metadata.ownerReferences ?? [];
  const uids = new Set(ours.map((o) => o.uid));
  const kept = (observed.metadata.ownerReferences ?? []).map((o) =>
    uids.has(o.uid) ? ours.find((x) => x.uid === o.uid)! : o,
  );
  const have = new Set(kept.map((o) => o.uid));
  return [...kept, ...ours.filter((o) => !have.has(o.uid))];
}

/** Name, namespace and kind are what the patch is addressed to, not what it changes. */
function stripIdentity(object: KubeObject): Record<string, unknown> {
  const { apiVersion: _a, kind: _k, metadata, ...rest } = object;
  const { name: _n, namespace: _ns, ...meta } = metadata;
  return { metadata: meta, ...rest };
}

/** B.100's labels and annotations set from `spec.pod` before, and so removed when gone now. */
function withDroppedTemplateKeys(observed: KubeObject): DiffRules {
  const recorded = parseRecordedKeys(observed.metadata.annotations?.[POD_METADATA_KEYS_ANNOTATION]);
  return {
    ...OBJECT_RULES,
    removable: [
      ...(OBJECT_RULES.removable ?? []),
      ...recorded.labels.map((k) => `${TEMPLATE}.metadata.labels.${k}`),
      ...recorded.annotations.map((k) => `${TEMPLATE}.metadata.annotations.${k}`),
    ],
  };
}

function parseRecordedKeys(value: string | undefined): { labels: string[]; annotations: string[] } {
  try {
    const parsed = JSON.parse(value ?? '{}') as { labels?: unknown; annotations?: unknown };
    const strings = (list: unknown) =>
      Array.isArray(list) ? list.filter((k): k is string => typeof k === 'string') : [];
    return { labels: strings(parsed.labels), annotations: strings(parsed.annotations) };
  } catch {
    // Someone edited the annotation by hand: remove nothing rather than guess.
    return { labels: [], annotations: [] };
  }
}
