/**
 * The patch formats the API server takes:
 * - JSON merge patch (RFC 7386): objects merge, `null` deletes, everything else replaces.
 * - JSON patch (RFC 6902): add, remove, replace, move, copy, test over JSON pointers.
 * - Strategic merge patch, APPROXIMATED: a merge patch except that lists whose items carry a
 *   known merge key (`name` for containers, env, volumes, ports with a name...; `mountPath` for
 *   volumeMounts; `containerPort`/`port` for unnamed ports; `type` for conditions; `uid` for
 *   ownerReferences) merge item by item, `finalizers` merge as a set, `$patch: delete|replace`
 *   is honoured, `$deleteFromPrimitiveList/F` removes values, and other `$` directives
 *   (`$setElementOrder`, `$retainKeys`) are ignored. There is no per-type schema, so a list of
 *   named objects is merged even where the real server would replace it.
 */
import { KubeError } from './errors.js';
import { clone, isObject } from './types.js';

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

const invalidPatch = (message: string) =>
  new KubeError(422, `the JSON patch is invalid: ${message}`, 'Invalid');

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw invalidPatch(`path ${JSON.stringify(path)} does not start with /`);
  return path
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = Record<string, unknown> | unknown[];

function parentOf(doc: unknown, parts: string[], path: string): [Container, string] {
  let at: unknown = doc;
  for (const part of parts.slice(0, -1)) {
    at = Array.isArray(at) ? at[Number(part)] : isObject(at) ? at[part] : undefined;
    if (at === undefined) throw invalidPatch(`path ${path} does not exist`);
  }
  if (!Array.isArray(at) && !isObject(at)) throw invalidPatch(`path ${path} does not exist`);
  return [at, parts[parts.length - 1] ?? ''];
}

function getAt(doc: unknown, path: string): unknown {
  let at: unknown = doc;
  for (const part of pointer(path)) {
    at = Array.isArray(at) ? at[Number(part)] : isObject(at) ? at[part] : undefined;
    if (at === undefined) throw invalidPatch(`path ${path} does not exist`);
  }
  return at;
}

function removeAt(doc: unknown, path: string): unknown {
  const [parent, key] = parentOf(doc, pointer(path), path);
  if (Array.isArray(parent)) {
    const i = Number(key);
    if (!(i >= 0 && i < parent.length)) throw invalidPatch(`path ${path} does not exist`);
    return parent.splice(i, 1)[0];
  }
  if (!(key in parent)) throw invalidPatch(`path ${path} does not exist`);
  const old = parent[key];
  delete parent[key];
  return old;
}

function addAt(doc: unknown, path: string, value: unknown, replace: boolean): unknown {
  const parts = pointer(path);
  if (parts.length === 0) return clone(value);
  const [parent, key] = parentOf(doc, parts, path);
  if (Array.isArray(parent)) {
    const i = key === '-' ? parent.length : Number(key);
    if (!(i >= 0 && i <= parent.length)) throw invalidPatch(`index ${key} out of range at ${path}`);
    if (replace) parent[i] = clone(value);
    else parent.splice(i, 0, clone(value));
  } else {
    if (replace && !(key in parent)) throw invalidPatch(`path ${path} does not exist`);
    parent[key] = clone(value);
  }
  return doc;
}

export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw new KubeError(400, 'a JSON patch must be an array of operations');
  let doc = clone(target);
  for (const op of ops) {
    if (!isObject(op) || typeof op.op !== 'string' || typeof op.path !== 'string') {
      throw invalidPatch(`operation ${JSON.stringify(op)} needs op and path`);
    }
    switch (op.op) {
      case 'add':
        doc = addAt(doc, op.path, op.value, false);
        break;
      case 'replace':
        doc = addAt(doc, op.path, op.value, true);
        break;
      case 'remove':
        removeAt(doc, op.path);
        break;
      case 'move':
        doc = addAt(doc, op.path, removeAt(doc, String(op.from)), false);
        break;
      case 'copy':
        doc = addAt(doc, op.path, getAt(doc, String(op.from)), false);
        break;
      case 'test':
        if (JSON.stringify(getAt(doc, op.path)) !== JSON.stringify(op.value)) {
          throw invalidPatch(`test failed at ${op.path}`);
        }
        break;
      default:
        throw invalidPatch(`unknown operation ${op.op}`);
    }
  }
  return doc;
}

const mergeKeys = ['name', 'mountPath', 'devicePath', 'containerPort', 'port', 'type', 'uid', 'ip'];

function mergeKeyOf(items: unknown[]): string | undefined {
  if (items.length === 0 || !items.every(isObject)) return undefined;
  return mergeKeys.find((k) => items.every((i) => (i as Record<string, unknown>)[k] !== undefined));
}

function strategicList(field: string, target: unknown, patch: unknown[]): unknown[] {
  const base = Array.isArray(target) ? target : [];
  if (field === 'finalizers') return [...new Set([...base, ...patch])];
  const replaceAll = patch.some((i) => isObject(i) && i.$patch === 'replace');
  if (replaceAll) return patch.filter((i) => !(isObject(i) && i.$patch === 'replace')).map(stripDirectives);
  const key = mergeKeyOf(
    patch.filter((i) => !(isObject(i) && i.$patch === 'delete' && Object.keys(i).length === 1)),
  );
  if (!key || (base.length > 0 && !base.every((i) => isObject(i) && i[key] !== undefined))) {
    return patch.map(stripDirectives);
  }
  const out = base.map((i) => clone(i) as Record<string, unknown>);
  for (const item of patch as Record<string, unknown>[]) {
    const at = out.findIndex((i) => i[key] === item[key]);
    if (item.$patch === 'delete') {
      if (at >= 0) out.splice(at, 1);
    } else if (at >= 0) out[at] = strategicMerge(out[at], item) as Record<string, unknown>;
    else out.push(stripDirectives(item) as Record<string, unknown>);
  }
  return out;
}

function stripDirectives(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripDirectives);
  if (!isObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([k]) => !k.startsWith('$'))
      .map(([k, v]) => [k, stripDirectives(v)]),
  );
}

export function strategicMerge(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'replace') return stripDirectives(patch);
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    const fromList = /^\$deleteFromPrimitiveList\/(.+)$/.exec(key);
    if (fromList?.[1] && Array.isArray(value)) {
      const field = fromList[1];
      const old = out[field];
      if (Array.isArray(old)) out[field] = old.filter((v) => !value.includes(v));
      continue;
    }
    if (key.startsWith('$')) continue;
    if (value === null) delete out[key];
    else if (Array.isArray(value)) out[key] = strategicList(key, out[key], value);
    else out[key] = strategicMerge(out[key], value);
  }
  return out;
}
