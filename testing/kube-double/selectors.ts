/**
 * Label selectors (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`) and field
 * selectors (`path=value`, `path!=value` over any dotted path, e.g. `metadata.name`,
 * `metadata.namespace`, `status.phase`), as the list and watch endpoints take them.
 */
import { badRequest } from './errors.js';
import { isObject, type Obj } from './types.js';

export type Selector = (object: Obj) => boolean;

const matchAll: Selector = () => true;

/** Splits on commas that are not inside parentheses. */
function terms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(current.trim());
      current = '';
    } else current += ch;
  }
  if (current.trim()) out.push(current.trim());
  return out;
}

export function labelSelector(text: string | null | undefined): Selector {
  if (!text) return matchAll;
  const checks = terms(text).map((term): ((labels: Record<string, string>) => boolean) => {
    const set = /^([^\s!=]+)\s+(in|notin)\s+\((.*)\)$/.exec(term);
    if (set) {
      const [, key = '', op, list = ''] = set;
      const values = list.split(',').map((v) => v.trim());
      return op === 'in'
        ? (l) => key in l && values.includes(l[key] ?? '')
        : (l) => !(key in l) || !values.includes(l[key] ?? '');
    }
    const cmp = /^([^\s!=]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (cmp) {
      const [, key = '', op, value = ''] = cmp;
      return op === '!=' ? (l) => l[key] !== value.trim() : (l) => l[key] === value.trim();
    }
    const exists = /^(!?)([^\s!=(),]+)$/.exec(term);
    if (exists) {
      const [, not, key = ''] = exists;
      return not ? (l) => !(key in l) : (l) => key in l;
    }
    throw badRequest(`unable to parse requirement: ${JSON.stringify(term)} in labelSelector`);
  });
  return (object) => {
    const labels = object.metadata.labels ?? {};
    return checks.every((check) => check(labels));
  };
}

function fieldValue(object: Obj, path: string): string {
  let at: unknown = object;
  for (const part of path.split('.')) at = isObject(at) ? at[part] : undefined;
  return at === undefined || at === null ? '' : String(at);
}

export function fieldSelector(text: string | null | undefined): Selector {
  if (!text) return matchAll;
  const checks = terms(text).map((term): Selector => {
    const m = /^([\w.]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid field selector: ${JSON.stringify(term)}`);
    const [, path = '', op, value = ''] = m;
    return op === '!=' ? (o) => fieldValue(o, path) !== value : (o) => fieldValue(o, path) === value;
  });
  return (object) => checks.every((check) => check(object));
}

export function both(a: Selector, b: Selector): Selector {
  return (object) => a(object) && b(object);
}
