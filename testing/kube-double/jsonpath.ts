/**
 * The small JSONPath that printer columns use: `.a.b`, `.a[0]`, `.a[*].b`, `['key.with.dots']`
 * and filters `[?(@.type=="Ready")]` (with ==, !=), optionally wrapped in `{}`.
 */
import { isObject } from './types.js';

type Step =
  | { field: string }
  | { index: number }
  | { all: true }
  | { filter: { path: string[]; op: '==' | '!='; value: string } };

function parse(expression: string): Step[] {
  let text = expression.trim();
  if (text.startsWith('{') && text.endsWith('}')) text = text.slice(1, -1);
  if (text.startsWith('$')) text = text.slice(1);
  const steps: Step[] = [];
  const re =
    /\.([A-Za-z0-9_\-$]+)|\[(\d+)\]|\[\*\]|\['([^']*)'\]|\[\?\(@((?:\.[A-Za-z0-9_-]+)+)\s*(==|!=)\s*(?:"([^"]*)"|'([^']*)'|([^)\s]+))\)\]/y;
  while (re.lastIndex < text.length) {
    const start = re.lastIndex;
    const m = re.exec(text);
    if (!m || re.lastIndex === start) throw new Error(`unsupported JSONPath ${JSON.stringify(expression)}`);
    if (m[1] !== undefined) steps.push({ field: m[1] });
    else if (m[2] !== undefined) steps.push({ index: Number(m[2]) });
    else if (m[3] !== undefined) steps.push({ field: m[3] });
    else if (m[4] !== undefined) {
      steps.push({
        filter: {
          path: m[4].slice(1).split('.'),
          op: m[5] as '==' | '!=',
          value: m[6] ?? m[7] ?? m[8] ?? '',
        },
      });
    } else steps.push({ all: true });
  }
  return steps;
}

function at(value: unknown, path: string[]): unknown {
  let v = value;
  for (const p of path) v = isObject(v) ? v[p] : undefined;
  return v;
}

/** Every value the expression selects (empty when nothing matches). */
export function jsonPath(value: unknown, expression: string): unknown[] {
  let current: unknown[] = [value];
  for (const step of parse(expression)) {
    const next: unknown[] = [];
    for (const v of current) {
      if ('field' in step) {
        if (isObject(v) && v[step.field] !== undefined) next.push(v[step.field]);
      } else if ('index' in step) {
        if (Array.isArray(v) && step.index < v.length) next.push(v[step.index]);
      } else if ('all' in step) {
        if (Array.isArray(v)) next.push(...v);
        else if (isObject(v)) next.push(...Object.values(v));
      } else if (Array.isArray(v)) {
        const { path, op, value: wanted } = step.filter;
        next.push(...v.filter((item) => (String(at(item, path) ?? '') === wanted) === (op === '==')));
      }
    }
    current = next;
  }
  return current;
}
