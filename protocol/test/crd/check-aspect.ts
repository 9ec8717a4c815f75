/**
 * An Aspect object checked the three ways of ADR 0013: the API server's OpenAPI schema (ajv), its
 * CEL rules (@bufbuild/cel), and the operator's own parse (`parseAspectSpec`, B.96).
 */
import { parseAllDocuments } from 'yaml';
import { parseAspectSpec } from '../../aspect-resource.js';
import { aspectOpenApiSchema } from '../../crd/index.js';
import { celValidator } from './cel-validator.js';
import { openApiValidator } from './openapi-validator.js';

export interface AspectVerdicts {
  openApi: string[];
  cel: string[];
  /** The operator's refusal (`InvalidSpec` message), or null when it accepts the spec. */
  operator: string | null;
}

const schema = aspectOpenApiSchema();
const validateOpenApi = openApiValidator(schema);
const validateCel = celValidator(schema);

export function checkAspect(object: unknown): AspectVerdicts {
  const { metadata, spec } = (object ?? {}) as { metadata?: { name?: unknown }; spec?: unknown };
  const parsed = parseAspectSpec(String(metadata?.name ?? ''), spec);
  return {
    openApi: validateOpenApi(object),
    cel: validateCel(object),
    operator: parsed.ok ? null : parsed.message,
  };
}

/** The documents of a YAML file as plain objects; a YAML error fails loudly. */
export function yamlDocuments(text: string): unknown[] {
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('; '));
    return doc.toJS() as unknown;
  });
}
