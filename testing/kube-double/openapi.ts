/**
 * `/openapi/v3`: an index of group versions and, per group version, a document whose component
 * schemas are the CRD schemas (built-in kinds get an open object schema). kubectl's default
 * `--validate=strict` reads these to validate what it applies.
 */
import type { Resources } from './resources.js';
import type { ResourceType } from './types.js';

const pathOf = (t: Pick<ResourceType, 'group' | 'version'>) =>
  t.group === '' ? `api/${t.version}` : `apis/${t.group}/${t.version}`;

export function openApiIndex(resources: Resources) {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const t of resources.all()) {
    const p = pathOf(t);
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${hash(JSON.stringify(document(resources, p)))}` };
  }
  return { paths };
}

function hash(text: string): string {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0;
  return (h >>> 0).toString(16).toUpperCase();
}

function schemaName(t: ResourceType): string {
  const reversed = t.group === '' ? 'io.k8s.api.core' : t.group.split('.').reverse().join('.');
  return `${reversed}.${t.version}.${t.kind}`;
}

function document(resources: Resources, path: string) {
  const types = resources.all().filter((t) => pathOf(t) === path);
  if (types.length === 0) return undefined;
  const schemas: Record<string, unknown> = {};
  for (const t of types) {
    const base = (t.schema as Record<string, unknown> | undefined) ?? {
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
    };
    schemas[schemaName(t)] = {
      ...base,
      'x-kubernetes-group-version-kind': [{ group: t.group, version: t.version, kind: t.kind }],
    };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.33.0' },
    paths: Object.fromEntries(types.map((t) => [itemPath(t), { patch: patchOperation(t) }])),
    components: { schemas },
  };
}

const itemPath = (t: ResourceType) =>
  `/${pathOf(t)}/${t.namespaced ? 'namespaces/{namespace}/' : ''}${t.plural}/{name}`;

/**
 * kubectl looks for a PATCH operation of the kind that takes `fieldValidation`: finding one, it
 * leaves validation to the server (`?fieldValidation=Strict`), which the double answers in
 * validation.ts; finding none, it falls back to OpenAPI v2, which the double does not serve.
 */
function patchOperation(t: ResourceType) {
  return {
    'x-kubernetes-group-version-kind': { group: t.group, version: t.version, kind: t.kind },
    parameters: [
      { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } },
      { name: 'fieldManager', in: 'query', schema: { type: 'string', uniqueItems: true } },
    ],
  };
}

export function openApiDocument(resources: Resources, path: string) {
  return document(resources, path);
}
