/**
 * fast-check arbitraries for fuzzing the broker's inputs (QUALITY fault 18): arbitrary JSON, valid
 * bodies with a few mutations (a field dropped, an unknown field added, a value of the wrong type,
 * a huge string, text with NUL, deep nesting), and raw text; plus the rule every error must obey.
 */
import fc from 'fast-check';
import { ErrorBody, ErrorFrame } from '../protocol/index.js';

type JsonObject = Record<string, unknown>;

/** `[[[…]]]` nested `depth` levels. */
export function deepArray(depth: number): unknown {
  return JSON.parse('['.repeat(depth) + ']'.repeat(depth));
}

/**
 * Stands for `[[[…]]]` nested 100,000 levels: deep enough to overflow the stack of anything that
 * recurses (JSON.stringify among them), so it is spliced into the text after serialising.
 */
const DEEP = { deep: 100_000 } as const;
const DEEP_PLACEHOLDER = '__nexus_fuzz_deep__';

/** Values of the wrong type, size or content for any field. */
export const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }),
  fc.string({ unit: 'binary', maxLength: 20 }).map((s) => `${s}\u0000`),
  fc.constant('x'.repeat(300 * 1024)),
  fc.constant('€'.repeat(90_000)),
  fc.constant(deepArray(65)),
  fc.constant(DEEP),
  fc.constantFrom(-1, 0, 1.5, 1e308, -1e308, '', [], {}, null, true, '9223372036854775808', 'op:', 'Ünïcode'),
);

type Mutation =
  | { op: 'drop'; index: number }
  | { op: 'add'; key: string; value: unknown }
  | { op: 'replace'; index: number; value: unknown }
  | { op: 'nested'; index: number; key: string; value: unknown };

const keyArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('__proto__', 'constructor'),
);
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('drop' as const), index: fc.nat() }),
  fc.record({ op: fc.constant('add' as const), key: keyArb, value: weirdValue }),
  fc.record({ op: fc.constant('replace' as const), index: fc.nat(), value: weirdValue }),
  fc.record({ op: fc.constant('nested' as const), index: fc.nat(), key: keyArb, value: weirdValue }),
);

function applyMutation(body: JsonObject, m: Mutation): JsonObject {
  const keys = Object.keys(body);
  const pick = (index: number) => keys[index % Math.max(1, keys.length)];
  switch (m.op) {
    case 'drop': {
      const key = pick(m.index);
      return Object.fromEntries(Object.entries(body).filter(([k]) => k !== key));
    }
    case 'add':
      // A computed key makes an own property even for "__proto__".
      return { ...body, [m.key]: m.value };
    case 'replace': {
      const key = pick(m.index);
      return key === undefined ? body : { ...body, [key]: m.value };
    }
    case 'nested': {
      const objects = keys.filter((k) => {
        const v = body[k];
        return v !== null && typeof v === 'object' && !Array.isArray(v);
      });
      const key = objects[m.index % Math.max(1, objects.length)];
      if (key === undefined) return body;
      const inner = body[key] as JsonObject;
      const innerKeys = Object.keys(inner);
      const target =
        innerKeys.length > 0 && m.index % 2 === 0 ? innerKeys[m.index % innerKeys.length] : m.key;
      return { ...body, [key]: { ...inner, [target as string]: m.value } };
    }
  }
}

/**
 * A valid body (from `valid`) with one to three mutations, as the JSON text to send and the value
 * that text parses to (what the broker sees).
 */
export function mutatedBody(valid: fc.Arbitrary<JsonObject>): fc.Arbitrary<{ text: string; value: unknown }> {
  return fc.tuple(valid, fc.array(mutationArb, { minLength: 1, maxLength: 3 })).map(([body, mutations]) => {
    const nesting = '['.repeat(DEEP.deep) + ']'.repeat(DEEP.deep);
    const text = JSON.stringify(mutations.reduce(applyMutation, body), (_key, v: unknown) =>
      v === DEEP ? DEEP_PLACEHOLDER : v,
    ).replaceAll(`"${DEEP_PLACEHOLDER}"`, nesting);
    return { text, value: JSON.parse(text) as unknown };
  });
}

/** Any JSON value, keys and strings from the whole of Unicode. */
export const anyJson: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 4, stringUnit: 'binary' });

/** Text that is mostly not JSON. */
export const anyText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.json().map((j) => j.slice(0, -1)),
);

const SEGMENT = String.raw`(?:[A-Za-z_$][A-Za-z0-9_$-]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])`;
/** A field path as `formatPath` writes it, then ": " and the rule. */
const PATH_THEN_RULE = new RegExp(
  String.raw`^(?:\(root\)|${SEGMENT}(?:\.[A-Za-z_$][A-Za-z0-9_$-]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])*): \S`,
  's',
);

/**
 * What is wrong with an error, or null: it must parse as the wire shape, `invalid_request` must
 * start with the field path ("path: rule"), and `invalid_json` must name only a position (B.57).
 */
export function errorProblem(error: unknown, kind: 'body' | 'frame'): string | null {
  let code: string;
  let message: string;
  let details: unknown;
  if (kind === 'body') {
    const parsed = ErrorBody.safeParse(error);
    if (!parsed.success) return `not an error body: ${JSON.stringify(error)?.slice(0, 300)}`;
    ({ code, message, details } = parsed.data.error);
  } else {
    const parsed = ErrorFrame.safeParse(error);
    if (!parsed.success) return `not an error frame: ${JSON.stringify(error)?.slice(0, 300)}`;
    ({ code, message, details } = parsed.data);
  }
  if (code === 'invalid_json') {
    const expected = new RegExp(`^${kind} is not valid JSON at position \\d+$`);
    return expected.test(message) ? null : `invalid_json message ${JSON.stringify(message)}`;
  }
  if (code !== 'invalid_request') return null;
  if (!PATH_THEN_RULE.test(message)) return `message ${JSON.stringify(message.slice(0, 300))} names no field`;
  const first = (details as { issues?: { path: string; message: string }[] } | undefined)?.issues?.[0];
  if (first && message !== `${first.path}: ${first.message}`)
    return `message ${JSON.stringify(message.slice(0, 300))} is not the first issue's "path: rule"`;
  return null;
}
