/**
 * The rules Kubernetes applies to a CRD schema before it accepts it (apiextensions' structural
 * schema and its forbidden fields), plus B.65's bounds, as a pure checker: one problem per broken
 * rule, each naming the schema path. The stand-in for the API server refusing the CRD (ADR 0013).
 */
type Node = Record<string, unknown>;

/** `JSONSchemaProps` fields a CRD may use (`$ref`, `$schema`, `const`, `propertyNames`... may not). */
const ALLOWED = new Set([
  'description',
  'type',
  'format',
  'title',
  'default',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'multipleOf',
  'enum',
  'maxProperties',
  'minProperties',
  'required',
  'items',
  'allOf',
  'oneOf',
  'anyOf',
  'not',
  'properties',
  'additionalProperties',
  'nullable',
  'example',
  'externalDocs',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-list-type',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
]);
const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);
const JUNCTORS = ['allOf', 'anyOf', 'oneOf', 'not'] as const;
/** What a schema inside a junctor may not set (the int-or-string exception is not used here). */
const NOT_IN_JUNCTOR = ['type', 'description', 'default', 'additionalProperties', 'nullable'];

interface Walk {
  path: string;
  inJunctor: boolean;
  problems: string[];
}

/** Every way `schema` (an `openAPIV3Schema`) breaks the structural rules or B.65's bounds. */
export function structuralProblems(schema: unknown): string[] {
  const problems: string[] = [];
  if (!isNode(schema)) return ['(root): must be a schema object'];
  if (schema.type !== 'object') problems.push('(root): type must be object');
  checkMetadata(schema, problems);
  check(schema, { path: '(root)', inJunctor: false, problems });
  return problems;
}

function check(node: Node, walk: Walk): void {
  const { path, problems } = walk;
  const say = (rule: string) => problems.push(`${path}: ${rule}`);
  for (const key of Object.keys(node)) if (!ALLOWED.has(key)) say(`${key} is not allowed in a CRD schema`);
  if (node.uniqueItems === true) say('uniqueItems: true is not allowed');
  const preserve = node['x-kubernetes-preserve-unknown-fields'];
  if (preserve !== undefined && preserve !== true) say('x-kubernetes-preserve-unknown-fields must be true');
  const untypedAllowed = preserve === true || node['x-kubernetes-int-or-string'] === true;
  if (walk.inJunctor) {
    for (const key of NOT_IN_JUNCTOR) if (key in node) say(`${key} must not be set inside a junctor`);
  } else if (node.type === undefined && !untypedAllowed) say('must specify a type');
  if (node.type !== undefined && !TYPES.has(node.type as string)) say(`unknown type ${String(node.type)}`);

  if (node.properties !== undefined && node.additionalProperties !== undefined)
    say('properties and additionalProperties are mutually exclusive');
  if (node.additionalProperties !== undefined && !isNode(node.additionalProperties))
    say('additionalProperties must be a schema (false is not allowed; unknown fields are pruned)');
  if (node.additionalProperties !== undefined && preserve === true)
    say('additionalProperties and x-kubernetes-preserve-unknown-fields are mutually exclusive');
  if (node.items !== undefined && !isNode(node.items)) say('items must be one schema');
  if (node.type === 'array' && node.items === undefined) say('an array must specify items');

  checkBounds(node, walk);
  checkListType(node, walk);
  checkValidations(node, walk);
  checkJunctors(node, walk);

  if (isNode(node.properties))
    for (const [name, child] of Object.entries(node.properties))
      if (isNode(child)) check(child, { ...walk, path: `${path}.${name}` });
      else say(`properties.${name} must be a schema`);
  if (isNode(node.additionalProperties)) check(node.additionalProperties, { ...walk, path: `${path}{}` });
  if (isNode(node.items)) check(node.items, { ...walk, path: `${path}[]` });
}

/** B.65: CEL's cost is bounded only if every string, list and map is. */
function checkBounds(node: Node, { path, problems, inJunctor }: Walk): void {
  if (inJunctor) return;
  if (node.type === 'string' && typeof node.maxLength !== 'number')
    problems.push(`${path}: string without maxLength`);
  if (node.type === 'array' && typeof node.maxItems !== 'number')
    problems.push(`${path}: list without maxItems`);
  if (isNode(node.additionalProperties) && typeof node.maxProperties !== 'number')
    problems.push(`${path}: map without maxProperties`);
}

function checkListType(node: Node, { path, problems }: Walk): void {
  const listType = node['x-kubernetes-list-type'];
  if (listType === undefined) return;
  if (node.type !== 'array') problems.push(`${path}: x-kubernetes-list-type on a non-array`);
  if (listType !== 'map') return;
  const keys = node['x-kubernetes-list-map-keys'];
  const items = isNode(node.items) ? node.items : {};
  const required = Array.isArray(items.required) ? (items.required as string[]) : [];
  if (!Array.isArray(keys) || keys.length === 0)
    problems.push(`${path}: a map list needs x-kubernetes-list-map-keys`);
  else
    for (const key of keys as string[])
      if (!required.includes(key)) problems.push(`${path}: list map key ${key} must be required`);
}

function checkValidations(node: Node, { path, problems }: Walk): void {
  const rules = node['x-kubernetes-validations'];
  if (rules === undefined) return;
  if (!Array.isArray(rules)) return void problems.push(`${path}: x-kubernetes-validations must be a list`);
  for (const [i, rule] of rules.entries()) {
    if (!isNode(rule) || typeof rule.rule !== 'string' || rule.rule.trim() === '')
      problems.push(`${path}: x-kubernetes-validations[${i}] needs a rule`);
    else if (typeof rule.message !== 'string' || rule.message.trim() === '')
      problems.push(`${path}: x-kubernetes-validations[${i}] needs a message`);
  }
}

/** A field or item named inside a junctor must also be specified outside it, with its type. */
function checkJunctors(node: Node, walk: Walk): void {
  for (const junctor of JUNCTORS) {
    const value = node[junctor];
    if (value === undefined) continue;
    const branches = junctor === 'not' ? [value] : Array.isArray(value) ? value : [];
    for (const [i, branch] of branches.entries()) {
      const path = `${walk.path}.${junctor}[${i}]`;
      if (!isNode(branch)) {
        walk.problems.push(`${path}: must be a schema`);
        continue;
      }
      check(branch, { ...walk, path, inJunctor: true });
      const outer = isNode(node.properties) ? node.properties : {};
      if (isNode(branch.properties))
        for (const name of Object.keys(branch.properties))
          if (!(name in outer))
            walk.problems.push(`${path}: field ${name} is not specified outside the junctor`);
      if (branch.items !== undefined && node.items === undefined)
        walk.problems.push(`${path}: items are not specified outside the junctor`);
    }
  }
}

/** At the root, metadata may only restrict name and generateName. */
function checkMetadata(root: Node, problems: string[]): void {
  const metadata = isNode(root.properties) ? root.properties.metadata : undefined;
  if (!isNode(metadata)) return;
  const extra = Object.keys(metadata).filter((k) => !['type', 'properties', 'description'].includes(k));
  const fields = isNode(metadata.properties) ? Object.keys(metadata.properties) : [];
  for (const key of [...extra, ...fields.filter((f) => !['name', 'generateName'].includes(f))])
    problems.push(`(root).metadata: only name and generateName may be restricted, not ${key}`);
}

function isNode(value: unknown): value is Node {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
