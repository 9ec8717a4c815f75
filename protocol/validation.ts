import type { z } from 'zod';
import { WireError } from './errors.js';

/** One issue, reduced to what a client needs: the field path and the rule it broke. */
export interface FieldIssue {
  path: string;
  message: string;
}

/** Renders a zod path the way people write it: `stats.sessions[0].sid`; the root is `(body)`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
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

/** Parses `input` with `schema` or throws `400 invalid_request` naming the first bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new WireError('invalid_request', firstIssueText(result.error), { issues: fieldIssues(result.error) });
}
