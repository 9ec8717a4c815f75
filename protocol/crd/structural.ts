/**
 * Turns the JSON Schema that zod writes (`z.toJSONSchema`, draft 2020-12) into a structural OpenAPI
 * v3 schema as a CRD needs it: every node typed, no `$schema`, `const`, `propertyNames` or
 * `additionalProperties: false` (unknown fields are pruned, or refused under strict field
 * validation), unions folded into one typed node, defaults left out (ADR 0013: the operator fills
 * them through zod). Anything it cannot express it refuses by path, so a zod change that the CRD
 * cannot follow fails `npm run generate` instead of producing a schema that says less.
 */
import type { CrdSchema } from './schema.js';

type Json = Record<string, unknown>;

export interface StructuralOptions {
  /** How a property name is spelt in the CRD (`timeout_s` → `timeoutS`). */
  rename: (key: string) => string;
  /** Property names whose subtree is free JSON, kept as written (B.66). */
  preserve: ReadonlySet<string>;
}

/** Keywords zod writes that carry no meaning for a CRD: dropped. */
const DROPPED = new Set(['$schema', 'default', 'propertyNames', 'format']);
const KNOWN = new Set([
  ...DROPPED,
  'type',
  'description',
  'properties',
  'required',
  'additionalProperties',
  'maxProperties',
  'items',
  'maxItems',
  'minItems',
  'maxLength',
  'minLength',
  'pattern',
  'enum',
  'const',
  'minimum',
  'maximum',
  'anyOf',
]);

export function toStructural(node: Json, path: string, options: StructuralOptions): CrdSchema {
  const unknown = Object.keys(node).filter((key) => !KNOWN.has(key));
  if (unknown.length > 0) throw new Error(`${path}: no structural form for ${unknown.join(', ')}`);
  if (Array.isArray(node.anyOf)) return union(node, path, options);
  const described = typeof node.description === 'string' ? { description: node.description } : {};
  switch (node.type) {
    case 'object':
      return { ...described, ...object(node, path, options) };
    case 'array': {
      if (!isJson(node.items)) throw new Error(`${path}: an array needs one items schema`);
      return {
        ...described,
        type: 'array',
        items: toStructural(node.items, `${path}[]`, options),
        ...pick(node, ['maxItems', 'minItems']),
      };
    }
    case 'string':
      return { ...described, ...string(node) };
    case 'integer':
    case 'number':
      return { ...described, type: node.type, ...pick(node, ['minimum', 'maximum']) };
    case 'boolean':
      return { ...described, type: 'boolean' };
    default:
      throw new Error(`${path}: no structural form for type ${JSON.stringify(node.type)}`);
  }
}

function object(node: Json, path: string, options: StructuralOptions): CrdSchema {
  const additional = node.additionalProperties;
  const free = additional === true || (isJson(additional) && Object.keys(additional).length === 0);
  if (!isJson(node.properties)) {
    if (free) return { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
    if (!isJson(additional)) return { type: 'object' };
    return {
      type: 'object',
      additionalProperties: toStructural(additional, `${path}{}`, options),
      ...pick(node, ['maxProperties']),
    };
  }
  const properties: Record<string, CrdSchema> = {};
  for (const [key, child] of Object.entries(node.properties)) {
    const name = options.rename(key);
    properties[name] = options.preserve.has(key)
      ? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }
      : toStructural(child as Json, `${path}.${name}`, options);
  }
  const required = Array.isArray(node.required) ? (node.required as string[]).map(options.rename) : [];
  return {
    type: 'object',
    properties,
    ...(required.length > 0 ? { required } : {}),
    // A loose object (`z.looseObject`): the named fields are checked, the rest kept as written.
    ...(free ? { 'x-kubernetes-preserve-unknown-fields': true as const } : {}),
  };
}

function string(node: Json): CrdSchema {
  const values = 'const' in node ? [node.const] : Array.isArray(node.enum) ? node.enum : undefined;
  const out: CrdSchema = { type: 'string', ...pick(node, ['maxLength', 'minLength', 'pattern']) };
  if (values) {
    out.enum = values as string[];
    // B.65: every string has a maxLength, an enumerated one too (the longest value).
    out.maxLength ??= Math.max(...out.enum.map((v) => String(v).length));
  }
  return out;
}

/**
 * `x | null` becomes a nullable x; a union of strings (an aspect name or `*`) becomes one string
 * whose pattern is the alternation of the branches'. A structural schema cannot state other
 * unions: write the zod as one object with optional fields and an exactly-one CEL rule.
 */
function union(node: Json, path: string, options: StructuralOptions): CrdSchema {
  const branches = (node.anyOf as Json[]).filter((b) => b.type !== 'null');
  const nullable = branches.length < (node.anyOf as Json[]).length;
  if (branches.length === 1)
    return { ...toStructural(branches[0]!, path, options), ...(nullable && { nullable }) };
  const strings = branches.map((b) => toStructural(b, path, options));
  if (!strings.every((s) => s.type === 'string'))
    throw new Error(
      `${path}: a union of non-strings has no structural form; use optional fields and a CEL rule`,
    );
  const alternatives = strings.map((s) => {
    if (s.pattern) return s.pattern.replace(/^\^/, '').replace(/\$$/, '');
    if (s.enum) return s.enum.map((v) => escapeRegExp(String(v))).join('|');
    throw new Error(`${path}: a union of strings needs a pattern or values in each branch`);
  });
  const lengths = strings.map((s) => s.maxLength);
  return {
    type: 'string',
    ...(lengths.every((n) => n !== undefined) && { maxLength: Math.max(...lengths) }),
    pattern: `^(?:${alternatives.join('|')})$`,
    ...(nullable && { nullable }),
  };
}

function pick(node: Json, keys: string[]): Partial<CrdSchema> {
  return Object.fromEntries(keys.filter((k) => node[k] !== undefined).map((k) => [k, node[k]]));
}

function isJson(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
