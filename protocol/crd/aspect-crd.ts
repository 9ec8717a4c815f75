/**
 * The Aspect CustomResourceDefinition (SPEC section 11, B.65, B.66, B.100, B.105, B.106), generated
 * from the zod schemas: `spec` is aspect.json's `AspectConfigFields` camelCased (less `name`, which
 * is `metadata.name`) plus `AspectKubeFields`; `status` is `AspectStatus`. `crds/` holds its YAML
 * (`npm run generate`); the chart renders the same object (B.103).
 */
import { stringify } from 'yaml';
import { z } from 'zod';
import { AspectConfigFields } from '../aspect-config.js';
import {
  ASPECT_GROUP,
  ASPECT_KIND,
  ASPECT_PLURAL,
  ASPECT_VERSION,
  AspectKubeFields,
  AspectStatus,
  CONDITION_REASONS,
  CONDITION_TYPES,
  camelCase,
} from '../aspect-resource.js';
import { ASPECT_RULES } from './rules.js';
import type { CelRule, CrdSchema } from './schema.js';
import { toStructural } from './structural.js';

export const ASPECT_CRD_NAME = `${ASPECT_PLURAL}.${ASPECT_GROUP}`;
export const ASPECT_CRD_HEADER = 'generated from protocol/ by scripts/generate-schemas.ts — do not edit';

/** aspect.json subtrees that are user data (B.66): their keys stay as written. */
const FREE_JSON = new Set(['metadata', 'input_schema']);

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
}

/** `spec`: aspect.json camelCased without `name`, then the Kubernetes fields. */
export function aspectSpecSchema(): CrdSchema {
  const config = toStructural(jsonSchema(AspectConfigFields.omit({ name: true })), 'spec', {
    rename: camelCase,
    preserve: FREE_JSON,
  });
  const kube = toStructural(jsonSchema(AspectKubeFields), 'spec', { rename: (k) => k, preserve: new Set() });
  const clash = Object.keys(kube.properties ?? {}).filter((k) => k in (config.properties ?? {}));
  if (clash.length > 0)
    throw new Error(`spec: ${clash.join(', ')} named by aspect.json and the Kubernetes fields`);
  return {
    description: 'aspect.json camelCased (name is metadata.name), plus what only Kubernetes needs.',
    type: 'object',
    properties: { ...config.properties, ...kube.properties },
    required: [...(config.required ?? []), ...(kube.required ?? [])],
  };
}

const REASONS = `Condition reasons are one of: ${CONDITION_REASONS.join(', ')}.`;

export function aspectStatusSchema(): CrdSchema {
  const status = toStructural(jsonSchema(AspectStatus), 'status', { rename: (k) => k, preserve: new Set() });
  const { conditions, ...others } = status.properties ?? {};
  const reason = conditions?.items?.properties?.reason;
  if (!conditions || !reason) throw new Error('status.conditions[].reason: missing');
  // Documented, not enumerated: a pod's waiting reason is copied as Kubernetes names it (B.106), and
  // a status write must never be refused for a reason the list has not caught up with.
  reason.description = REASONS;
  return {
    description: 'What the operator observed (B.63, B.106).',
    ...status,
    properties: {
      ...others,
      conditions: {
        description: `Conditions ${CONDITION_TYPES.join(', ')}, each with observedGeneration.`,
        ...conditions,
        // One entry per type, merged by type under server-side apply, as Kubernetes' own conditions are.
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
      },
    },
  };
}

/** The whole object: apiVersion, kind, metadata, spec and status, with the rules of rules.ts. */
export function aspectOpenApiSchema(): CrdSchema {
  const schema: CrdSchema = {
    description:
      'An aspect of Nexus: one agent with its home on a volume, run and registered by the operator. ' +
      `The name is the broker name: a DNS-1123 label of at most 52 characters. ${REASONS}`,
    type: 'object',
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string', maxLength: 253 },
      kind: { type: 'string', maxLength: 63 },
      metadata: { type: 'object' },
      spec: aspectSpecSchema(),
      status: aspectStatusSchema(),
    },
  };
  for (const [path, rules] of Object.entries(ASPECT_RULES)) addRules(schema, path, rules);
  return schema;
}

function addRules(root: CrdSchema, path: string, rules: CelRule[]): void {
  let node: CrdSchema | undefined = root;
  for (const step of path === '' ? [] : path.split('.')) {
    const [, name, items] = /^([^[\]]+)(\[\])?$/.exec(step) ?? [];
    node = name === undefined ? undefined : node?.properties?.[name];
    if (items) node = node?.items;
  }
  if (!node) throw new Error(`CEL rules for ${path}: no such schema node`);
  node['x-kubernetes-validations'] = [...(node['x-kubernetes-validations'] ?? []), ...rules];
}

const readyCondition = (field: string) => `.status.conditions[?(@.type=="Ready")].${field}`;

/** The CustomResourceDefinition as an object, for `kubectl apply`, the chart and tests. */
export function aspectCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: ASPECT_CRD_NAME },
    spec: {
      group: ASPECT_GROUP,
      scope: 'Namespaced',
      names: {
        kind: ASPECT_KIND,
        listKind: `${ASPECT_KIND}List`,
        plural: ASPECT_PLURAL,
        singular: ASPECT_KIND.toLowerCase(),
        shortNames: ['asp'],
        categories: ['nexus'],
      },
      versions: [
        {
          name: ASPECT_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
            { name: 'Ready', type: 'string', jsonPath: readyCondition('status') },
            { name: 'Reason', type: 'string', jsonPath: readyCondition('reason') },
            { name: 'Model', type: 'string', jsonPath: '.spec.provider.model' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: { openAPIV3Schema: aspectOpenApiSchema() },
        },
      ],
    },
  };
}

/** The CRD as the YAML written to `crds/aspects.nexus.dev.yaml`. */
export function aspectCrdYaml(): string {
  return `# ${ASPECT_CRD_HEADER}\n${stringify(aspectCrd(), { lineWidth: 0, aliasDuplicateObjects: false })}`;
}
