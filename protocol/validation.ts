import type { z } from 'zod';
import { WireError } from './errors.js';

/** One issue, reduced to what a client needs: the field path and the rule it broke. */
export interface FieldIssue {
  path: string;
  message: string;
}

const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/**
 * Renders a zod path the way people write it: `stats.sessions[0].sid`; the root is `(root)`. A key
 * that is not a plain name is quoted (`metadata["a b"]`, `[""]`), so every path reads one way.
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && PLAIN_KEY.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out === '' ? '(root)' : out;
}

/** The issues of a failed parse as path + message pairs, first issue first. */
export function fieldIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => {
    // Unknown keys are reported on the object; name the offending key itself.
    if (issue.code === 'unrecognized_keys') {
      const key = issue.keys[0] ?? '';
      return { path: formatPath([...issue.path, key]), message: 'is not a known field' };
    }
    return { path: formatPath(issue.path), message: issue.message };
  });
}

/** "path: reason" for the first issue: the one line a person reads. */
export function firstIssueText(error: z.ZodError): string {
  const first = fieldIssues(error)[0];
  return first ? `${first.path}: ${first.message}` : 'invalid input';
}

/**
 * The first string or object key in `value` that holds U+0000, as an issue naming where it is.
 * Text on the wire never carries NUL: Postgres `text` and `jsonb` cannot store it. Walks without
 * recursion, in document order.
 */
export function nulCharacterIssue(value: unknown): FieldIssue | null {
  const message = 'must not contain the NUL character (U+0000)';
  const stack: [unknown, PropertyKey[]][] = [[value, []]];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [item, path] = next;
    if (typeof item === 'string') {
      if (item.includes('\0')) return { path: formatPath(path), message };
      continue;
    }
    if (item === null || typeof item !== 'object') continue;
    const children: [unknown, PropertyKey[]][] = [];
    if (Array.isArray(item)) item.forEach((child, i) => children.push([child, [...path, i]]));
    else
      for (const [key, child] of Object.entries(item)) {
        if (key.includes('\0')) return { path: formatPath([...path, key]), message };
        children.push([child, [...path, key]]);
      }
    // Pushed last child first, so the walk pops them in document order (no spread: arrays may be long).
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i] as [unknown, PropertyKey[]]);
  }
  return null;
}

/**
 * Parses `input` with `schema` or throws `400 invalid_request` naming the first bad field; text
 * holding U+0000 is refused the same way (see `nulCharacterIssue`).
 */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success)
    throw new WireError('invalid_request', firstIssueText(result.error), {
      issues: fieldIssues(result.error),
    });
  const nul = nulCharacterIssue(input);
  if (nul) throw new WireError('invalid_request', `${nul.path}: ${nul.message}`, { issues: [nul] });
  return result.data;
}
