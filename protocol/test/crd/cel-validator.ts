/**
 * The API server's CEL check of an Aspect, stood in for by `@bufbuild/cel` (ADR 0013). Every
 * `x-kubernetes-validations` rule is compiled with the standard library only (no Kubernetes
 * extensions are registered, so a rule using one fails to run) and evaluated where the API server
 * evaluates it: `self` is the value at the rule's schema node, the whole object for the root rules.
 * Values are typed from the schema as the API server types them: `integer` becomes a CEL int, an
 * object a map, fields the schema does not name are pruned unless the node preserves them.
 */
import { celEnv, isCelError, parse, plan, type CelInput } from '@bufbuild/cel';
import type { CrdSchema } from '../../crd/index.js';

export interface CompiledRule {
  path: string;
  rule: string;
  message: string;
  run: (self: CelInput) => unknown;
}

/** Every rule in the schema, compiled; throws naming the rule that does not parse or plan. */
export function compileRules(schema: CrdSchema): Map<CrdSchema, CompiledRule[]> {
  const env = celEnv();
  const compiled = new Map<CrdSchema, CompiledRule[]>();
  visit(schema, '(root)', (node, path) => {
    const rules = node['x-kubernetes-validations'] ?? [];
    if (rules.length === 0) return;
    compiled.set(
      node,
      rules.map(({ rule, message }) => {
        try {
          const program = plan(env, parse(rule));
          return { path, rule, message, run: (self: CelInput) => program({ self }) };
        } catch (error) {
          throw new Error(`${path}: rule ${rule} does not compile: ${(error as Error).message}`, {
            cause: error,
          });
        }
      }),
    );
  });
  return compiled;
}

function visit(node: CrdSchema, path: string, each: (node: CrdSchema, path: string) => void): void {
  each(node, path);
  for (const [name, child] of Object.entries(node.properties ?? {})) visit(child, `${path}.${name}`, each);
  if (node.additionalProperties) visit(node.additionalProperties, `${path}{}`, each);
  if (node.items) visit(node.items, `${path}[]`, each);
}

/**
 * The messages of the rules `object` breaks, each prefixed by the data path (as the API server does).
 * The root rules see `metadata.name` and `metadata.generateName`, the only metadata the API server
 * lets a CRD's rules read.
 */
export function celValidator(openApiSchema: CrdSchema): (object: unknown) => string[] {
  const metadata: CrdSchema = {
    type: 'object',
    properties: { name: { type: 'string' }, generateName: { type: 'string' } },
  };
  const schema = { ...openApiSchema, properties: { ...openApiSchema.properties, metadata } };
  const compiled = compileRules(schema);
  return (object) => {
    const failures: string[] = [];
    walk(schema, object, '', compiled, failures);
    return failures;
  };
}

function walk(
  node: CrdSchema,
  value: unknown,
  path: string,
  compiled: Map<CrdSchema, CompiledRule[]>,
  out: string[],
): void {
  if (value === undefined || value === null) return;
  const where = path === '' ? '(root)' : path;
  for (const rule of compiled.get(node) ?? []) {
    const result = rule.run(toCel(value, node));
    if (isCelError(result)) out.push(`${where}: ${rule.message} (evaluation error: ${result.message})`);
    else if (result !== true) out.push(`${where}: ${rule.message}`);
  }
  if (Array.isArray(value) && node.items) {
    value.forEach((item, i) => walk(node.items as CrdSchema, item, `${path}[${i}]`, compiled, out));
  } else if (isObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      const schema = node.properties?.[key] ?? node.additionalProperties;
      const at = path === '' ? key : `${path}.${key}`;
      if (schema) walk(schema, child, at, compiled, out);
    }
  }
}

/** A JSON value as the CEL value the API server would bind, typed by its schema node. */
export function toCel(value: unknown, node: CrdSchema | undefined): CelInput {
  if (typeof value === 'number')
    return node?.type !== 'number' && Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map((item) => toCel(item, node?.items));
  if (isObject(value)) {
    const map = new Map<string, CelInput>();
    for (const [key, child] of Object.entries(value)) {
      const schema = node?.properties?.[key] ?? node?.additionalProperties;
      const kept = !node || schema || node['x-kubernetes-preserve-unknown-fields'] || !node.type;
      if (kept) map.set(key, toCel(child, schema));
    }
    return map;
  }
  return value as CelInput;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
