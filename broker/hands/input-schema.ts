/** Checks a dispatch's `input` against its Hand's `input_schema` (JSON Schema, via ajv). */
import { Ajv, type ValidateFunction } from 'ajv';

// strict: false, because declarations may carry annotations ajv does not know; the schema
// describes data, it does not configure us.
const ajv = new Ajv({ strict: false, allErrors: false });
const compiled = new Map<string, ValidateFunction>();
const MAX_CACHED = 1000;

/** The first problem with `input` as "input.path: rule", or null when it conforms. */
export function inputSchemaProblem(schema: Record<string, unknown>, input: unknown): string | null {
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (!validate) {
    try {
      validate = ajv.compile(schema);
    } catch {
      return "input: the Hand's input_schema is not a valid JSON Schema";
    }
    if (compiled.size >= MAX_CACHED) compiled.clear();
    compiled.set(key, validate);
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
