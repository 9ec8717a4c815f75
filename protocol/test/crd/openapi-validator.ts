/**
 * The API server's OpenAPI check of an Aspect, stood in for by ajv (ADR 0013): the CRD's
 * `openAPIV3Schema` translated to JSON Schema draft-07 node by node. Translation rules:
 * `nullable` adds `null` to the type; `x-kubernetes-*` keys are the API server's own (CEL runs in
 * cel-validator.ts) and are dropped; an object without `x-kubernetes-preserve-unknown-fields` or a
 * map schema refuses unknown fields, as the API server does under strict field validation (kubectl's
 * default since 1.27; without it they are pruned, see the ADR); `metadata` stays open (the API
 * server checks ObjectMeta itself). Any other keyword is refused, so the translation cannot
 * silently weaken a schema.
 */
import { Ajv, type ErrorObject } from 'ajv';
import type { CrdSchema } from '../../crd/index.js';

type Draft07 = Record<string, unknown>;

const COPIED = [
  'required',
  'maxProperties',
  'maxItems',
  'minItems',
  'maxLength',
  'minLength',
  'pattern',
  'minimum',
  'maximum',
] as const;
const IGNORED = new Set([
  'description',
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-preserve-unknown-fields',
]);
const HANDLED = new Set<string>([
  ...COPIED,
  ...IGNORED,
  'type',
  'nullable',
  'enum',
  'properties',
  'additionalProperties',
  'items',
]);

export function toDraft07(node: CrdSchema, path = '(root)'): Draft07 {
  const unknown = Object.keys(node).filter((key) => !HANDLED.has(key));
  if (unknown.length > 0) throw new Error(`${path}: no draft-07 translation for ${unknown.join(', ')}`);
  const out: Draft07 = {};
  if (node.type) out.type = node.nullable ? [node.type, 'null'] : node.type;
  if (node.enum) out.enum = node.nullable ? [...node.enum, null] : node.enum;
  for (const key of COPIED) if (node[key] !== undefined) out[key] = node[key];
  if (node.items) out.items = toDraft07(node.items, `${path}[]`);
  if (node.properties)
    out.properties = Object.fromEntries(
      Object.entries(node.properties).map(([name, child]) => [name, toDraft07(child, `${path}.${name}`)]),
    );
  if (node.additionalProperties) out.additionalProperties = toDraft07(node.additionalProperties, `${path}{}`);
  else if (node.type === 'object' && !node['x-kubernetes-preserve-unknown-fields'])
    out.additionalProperties = false;
  return out;
}

/** A validator for whole Aspect objects; `metadata` is left to the API server's own checks. */
export function openApiValidator(openApiSchema: CrdSchema): (object: unknown) => string[] {
  const schema = toDraft07(openApiSchema);
  const properties = schema.properties as Record<string, Draft07>;
  properties.metadata = { type: 'object' };
  const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
  return (object) => (validate(object) ? [] : (validate.errors ?? []).map(describe));
}

function describe(error: ErrorObject): string {
  // `/spec/hands/0/timeoutS` → `spec.hands[0].timeoutS`, as the API server writes field paths.
  const path =
    error.instancePath
      .split('/')
      .slice(1)
      .map((step) => (/^\d+$/.test(step) ? `[${step}]` : `.${step.replace(/~1/g, '/').replace(/~0/g, '~')}`))
      .join('')
      .replace(/^\./, '') || '(root)';
  const extra =
    error.keyword === 'additionalProperties'
      ? ` (${String((error.params as { additionalProperty: string }).additionalProperty)})`
      : '';
  return `${path}: ${error.message ?? error.keyword}${extra}`;
}
