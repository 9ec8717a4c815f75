/**
 * The merge patch (RFC 7386) that makes an observed object match what the operator wants, with
 * only the fields that differ, or undefined when nothing does (B.63, B.64: an unchanged Aspect
 * writes nothing).
 *
 * The desired object names only what the operator sets, so fields the observed object has beyond
 * it are the API server's defaults (`imagePullPolicy`, `terminationMessagePath`, a volume's
 * `defaultMode`) or another controller's, and are left alone; lists are compared element by
 * element the same way and, when they differ, sent whole (a merge patch replaces lists). Two rules
 * say where an absent desired key means "remove it": `exact` objects (the whole truth: any extra
 * key goes) and `removable` keys (set only by the operator, from optional settings). Paths are
 * dotted, `[]` standing for any list element: `spec.template.spec.containers[].securityContext`.
 * Strings under a `resources` key compare as quantities ("0.5" equals the server's "500m").
 */
import { sameQuantity } from './quantity.js';

type Json = Record<string, unknown>;

export interface DiffRules {
  exact?: readonly string[];
  removable?: readonly string[];
}

function isPlainObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const join = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);

function removable(rules: DiffRules, path: string, key: string): boolean {
  return (rules.exact ?? []).includes(path) || (rules.removable ?? []).includes(join(path, key));
}

function scalarEqual(desired: unknown, observed: unknown, path: string): boolean {
  if (desired === observed) return true;
  return /(^|\.)resources(\.|$)/.test(path) && sameQuantity(desired, observed);
}

/** Whether `observed` already says everything `desired` says (and nothing removable besides). */
export function covers(desired: unknown, observed: unknown, rules: DiffRules, path = ''): boolean {
  if (Array.isArray(desired)) {
    return (
      Array.isArray(observed) &&
      observed.length === desired.length &&
      desired.every((d, i) => covers(d, observed[i], rules, `${path}[]`))
    );
  }
  if (isPlainObject(desired)) {
    if (!isPlainObject(observed)) return false;
    for (const [key, value] of Object.entries(desired)) {
      if (value === undefined) continue;
      if (!covers(value, observed[key], rules, join(path, key))) return false;
    }
    return Object.keys(observed).every(
      (key) => key in desired || observed[key] === undefined || !removable(rules, path, key),
    );
  }
  return scalarEqual(desired, observed, path);
}

/** The merge patch from `observed` towards `desired`, or undefined when `observed` covers it. */
export function mergePatch(desired: unknown, observed: unknown, rules: DiffRules = {}, path = ''): unknown {
  if (!isPlainObject(desired) || !isPlainObject(observed)) {
    return covers(desired, observed, rules, path) ? undefined : desired;
  }
  const patch: Json = {};
  for (const [key, value] of Object.entries(desired)) {
    if (value === undefined) continue;
    const child = mergePatch(value, observed[key], rules, join(path, key));
    if (child !== undefined) patch[key] = child;
  }
  for (const key of Object.keys(observed)) {
    if (!(key in desired) && observed[key] !== undefined && removable(rules, path, key)) patch[key] = null;
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}
