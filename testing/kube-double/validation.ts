/**
 * What the real server does with a custom object against its CRD's structural schema, in part:
 * - unknown fields are pruned (kept under `x-kubernetes-preserve-unknown-fields`), or refused
 *   with 400 under `fieldValidation=Strict` (kubectl's default);
 * - types, `required`, `enum`, `nullable`, `x-kubernetes-int-or-string`, string and list length,
 *   `pattern`, `minimum`/`maximum` are checked, a violation answering 422 Invalid.
 * Not checked: CEL rules (`x-kubernetes-validations`), `format`, `oneOf`/`anyOf`/`allOf`/`not`,
 * defaults (`default` is not applied).
 */
import { KubeError } from './errors.js';
import { isObject, type Obj, type ResourceType } from './types.js';

type Schema = Record<string, unknown>;

interface Findings {
  unknown: string[];
  invalid: string[];
}

function typeOk(schema: Schema, value: unknown): boolean {
  if (schema['x-kubernetes-int-or-string'] === true)
    return typeof value === 'string' || Number.isInteger(value);
  switch (schema.type) {
    case 'object':
      return isObject(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    default:
      return true;
  }
}

const shown = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? 'null'));

function walk(schema: Schema, value: unknown, path: string, found: Findings): void {
  const bad = (detail: string) => found.invalid.push(`${path}: Invalid value: ${shown(value)}: ${detail}`);
  if (!typeOk(schema, value)) {
    bad(
      `${path} in body must be of type ${String(schema.type)}: "${Array.isArray(value) ? 'array' : typeof value}"`,
    );
    return;
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    found.invalid.push(
      `${path}: Unsupported value: ${shown(value)}: supported values: ${schema.enum.map(shown).join(', ')}`,
    );
  }
  if (typeof value === 'string') {
    if (typeof schema.maxLength === 'number' && value.length > schema.maxLength) {
      found.invalid.push(`${path}: Too long: may not be more than ${schema.maxLength} bytes`);
    }
    if (typeof schema.minLength === 'number' && value.length < schema.minLength)
      bad(`should be at least ${schema.minLength} chars long`);
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) {
      bad(`${path} in body should match '${schema.pattern}'`);
    }
  }
  if (typeof value === 'number') {
    if (typeof schema.maximum === 'number' && value > schema.maximum)
      bad(`should be less than or equal to ${schema.maximum}`);
    if (typeof schema.minimum === 'number' && value < schema.minimum)
      bad(`should be greater than or equal to ${schema.minimum}`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) {
      found.invalid.push(`${path}: Too many: ${value.length}: must have at most ${schema.maxItems} items`);
    }
    if (typeof schema.minItems === 'number' && value.length < schema.minItems)
      bad(`should have at least ${schema.minItems} items`);
    if (isObject(schema.items))
      value.forEach((item, i) => walk(schema.items as Schema, item, `${path}[${i}]`, found));
  }
  if (isObject(value)) walkObject(schema, value, path, found);
}

function walkObject(schema: Schema, value: Record<string, unknown>, path: string, found: Findings): void {
  const properties = isObject(schema.properties) ? (schema.properties as Record<string, Schema>) : undefined;
  const additional = isObject(schema.additionalProperties)
    ? (schema.additionalProperties as Schema)
    : undefined;
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  for (const [key, child] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key;
    if (path === '' && ['apiVersion', 'kind', 'metadata'].includes(key)) continue;
    const childSchema = properties?.[key] ?? additional;
    if (child === null && !(childSchema?.nullable === true)) {
      delete value[key]; // the real server drops nulls of non-nullable fields before validating
      continue;
    }
    if (childSchema) walk(childSchema, child, at, found);
    else if (!preserve && schema.additionalProperties !== true && (properties || schema.type === 'object')) {
      found.unknown.push(at);
      delete value[key];
    }
  }
  if (Array.isArray(schema.required)) {
    for (const key of schema.required) {
      if (typeof key === 'string' && value[key] === undefined)
        found.invalid.push(`${path ? `${path}.` : ''}${key}: Required value`);
    }
  }
}

/** Prunes `object` in place and throws the error the real server would answer. */
export function checkCustomObject(t: ResourceType, object: Obj, fieldValidation: string | undefined): void {
  if (!isObject(t.schema)) return;
  const found: Findings = { unknown: [], invalid: [] };
  walkObject(t.schema, object as unknown as Record<string, unknown>, '', found);
  if (found.unknown.length > 0 && fieldValidation === 'Strict') {
    const fields = found.unknown.map((f) => `unknown field "${f}"`).join(', ');
    throw new KubeError(
      400,
      `${t.kind} in version "${t.version}" cannot be handled as a ${t.kind}: strict decoding error: ${fields}`,
      'BadRequest',
    );
  }
  if (found.invalid.length > 0) {
    const name = object.metadata.name ?? '';
    throw new KubeError(
      422,
      `${t.kind}.${t.group} "${name}" is invalid: ${found.invalid.join(', ')}`,
      'Invalid',
      {
        name,
        group: t.group,
        kind: t.kind,
        causes: found.invalid.map((message) => ({ reason: 'FieldValueInvalid', message })),
      },
    );
  }
}
