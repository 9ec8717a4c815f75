/**
 * A Hand's `input_schema` (JSON Schema, checked with ajv): whether a declaration's schema is usable,
 * and whether a dispatch's `input` conforms. The broker runs these checks on its event loop, so a
 * schema may not carry regular expressions (`pattern`, `patternProperties`): a crafted one could
 * stall every request (docs/hands.md).
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { utf8Bytes } from './names.js';

// strict: false, because declarations may carry annotations ajv does not know; formats are not
// checked (no format plug-in is loaded, and unknown formats must not fail a declaration).
const ajv = new Ajv({ strict: false, allErrors: false, validateFormats: false });
const compiled = new Map<string, ValidateFunction>();
const MAX_CACHED = 1000;
const MAX_SCHEMA_BYTES = 64 * 1024;
const REGEX_KEYWORDS = new Set(['pattern', 'patternProperties']);

function compile(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (!validate) {
    validate = ajv.compile(schema);
    if (compiled.size >= MAX_CACHED) compiled.clear();
    compiled.set(key, validate);
  }
  return validate;
}

function hasRegexKeyword(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasRegexKeyword);
  if (value === null || typeof value !== 'object') return false;
  return Object.entries(value).some(([key, inner]) => REGEX_KEYWORDS.has(key) || hasRegexKeyword(inner));
}

/** What is wrong with a declared schema, or null. */
export function inputSchemaDefect(schema: Record<string, unknown>): string | null {
  if (utf8Bytes(JSON.stringify(schema)) > MAX_SCHEMA_BYTES) return 'must be at most 64 KiB';
  if (hasRegexKeyword(schema))
    return 'must not use pattern or patternProperties: regular expressions would run on the broker';
  try {
    compile(schema);
    return null;
  } catch (err) {
    return `is not a valid JSON Schema (${err instanceof Error ? err.message.slice(0, 200) : 'compile error'})`;
  }
}

/** The first problem with `input` as "input.path: rule", or null when it conforms. */
export function inputSchemaProblem(schema: Record<string, unknown>, input: unknown): string | null {
  let validate: ValidateFunction;
  try {
    validate = compile(schema);
  } catch {
    return "input: the Hand's input_schema is not a valid JSON Schema";
  }
  if (validate(input ?? {})) return null;
  const error = validate.errors?.[0];
  if (!error) return 'input: does not match input_schema';
  const path = error.instancePath
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
  return `${path ? `input.${path}` : 'input'}: ${error.message ?? 'does not match input_schema'}`;
}
