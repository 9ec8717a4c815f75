/**
 * The generated Aspect CRD: committed YAML in sync with the zod schemas, a structural schema that
 * the API server would accept (checked by protocol/test/crd/structural-check.ts, ADR 0013), the
 * names and columns of B.105, and every CEL rule compiling with the standard library alone.
 */
import { readFileSync } from 'node:fs';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { parse } from 'yaml';
import { z } from 'zod';
import { AspectConfigFields } from '../aspect-config.js';
import { CONDITION_REASONS, KUBE_FIELD_NAMES, camelCase } from '../aspect-resource.js';
import { compileRules } from '../test/crd/cel-validator.js';
import { structuralProblems } from '../test/crd/structural-check.js';
import {
  ASPECT_CRD_NAME,
  ASPECT_RULES,
  aspectCrd,
  aspectCrdYaml,
  aspectOpenApiSchema,
  toStructural,
} from './index.js';

const committedPath = `crds/${ASPECT_CRD_NAME}.yaml`;

interface Version {
  name: string;
  served: boolean;
  storage: boolean;
  subresources: unknown;
  additionalPrinterColumns: { name: string; jsonPath: string }[];
  schema: { openAPIV3Schema: Record<string, unknown> };
}
const committed = parse(readFileSync(committedPath, 'utf8')) as { spec: { versions: Version[] } };

describe('the Aspect CRD', () => {
  it(`${committedPath} matches the zod schemas it comes from`, () => {
    // run `npm run generate` after changing protocol/
    expect(readFileSync(committedPath, 'utf8')).toBe(aspectCrdYaml());
    expect(aspectCrdYaml().startsWith('# generated from protocol/')).toBe(true);
  });

  it('is structural and bounds every string, list and map (B.65)', () => {
    const [version] = committed.spec.versions;
    expect(structuralProblems(version?.schema.openAPIV3Schema)).toEqual([]);
  });

  it("is a CustomResourceDefinition by Kubernetes' own schema of one (kubernetes-models)", () => {
    const crd = new CustomResourceDefinition(parse(readFileSync(committedPath, 'utf8')) as never);
    expect(() => crd.validate()).not.toThrow();
  });

  it('leaves defaults to the operator (ADR 0013)', () => {
    expect(readFileSync(committedPath, 'utf8')).not.toMatch(/^\s*default:/m);
  });

  it('has the names, version and columns of SPEC section 11 and B.105', () => {
    expect(aspectCrd()).toMatchObject({
      metadata: { name: 'aspects.nexus.dev' },
      spec: {
        group: 'nexus.dev',
        scope: 'Namespaced',
        names: {
          kind: 'Aspect',
          plural: 'aspects',
          singular: 'aspect',
          shortNames: ['asp'],
          categories: ['nexus'],
        },
      },
    });
    const [version] = committed.spec.versions;
    expect(version).toMatchObject({
      name: 'v1alpha1',
      served: true,
      storage: true,
      subresources: { status: {} },
    });
    expect(version?.additionalPrinterColumns.map((c) => [c.name, c.jsonPath])).toEqual([
      ['Phase', '.status.phase'],
      ['Ready', '.status.conditions[?(@.type=="Ready")].status'],
      ['Reason', '.status.conditions[?(@.type=="Ready")].reason'],
      ['Model', '.spec.provider.model'],
      ['Age', '.metadata.creationTimestamp'],
    ]);
  });

  it('spells spec as aspect.json camelCased, without name, plus the Kubernetes fields', () => {
    const configKeys = Object.keys(AspectConfigFields.shape).filter((k) => k !== 'name');
    const spec = aspectOpenApiSchema().properties?.spec;
    expect(Object.keys(spec?.properties ?? {}).sort()).toEqual(
      [...configKeys.map(camelCase), ...KUBE_FIELD_NAMES].sort(),
    );
    expect(spec?.properties?.hands?.items?.properties?.timeoutS?.type).toBe('integer');
    expect(spec?.properties?.metadata).toEqual({
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
    });
  });

  it('documents the closed list of condition reasons (B.106)', () => {
    const description = aspectOpenApiSchema().description ?? '';
    for (const reason of CONDITION_REASONS) expect(description).toContain(reason);
  });

  it('compiles every CEL rule with the standard library alone', () => {
    const compiled = [...compileRules(aspectOpenApiSchema()).values()].flat();
    const declared = Object.values(ASPECT_RULES).flat();
    expect(compiled.length).toBe(declared.length);
  });
});

describe('the structural-schema checker', () => {
  const bounded = { type: 'string', maxLength: 10 };
  const root = (spec: unknown) => ({ type: 'object', properties: { spec } });
  it.each([
    ['a node without a type', root({ properties: { a: bounded } }), '(root).spec: must specify a type'],
    [
      'properties with additionalProperties',
      root({ type: 'object', properties: { a: bounded }, additionalProperties: bounded, maxProperties: 2 }),
      '(root).spec: properties and additionalProperties are mutually exclusive',
    ],
    [
      'additionalProperties: false',
      root({ type: 'object', properties: { a: bounded }, additionalProperties: false }),
      '(root).spec: additionalProperties must be a schema (false is not allowed; unknown fields are pruned)',
    ],
    [
      'a type inside anyOf',
      root({ type: 'object', anyOf: [{ type: 'object', required: ['a'] }], properties: { a: bounded } }),
      '(root).spec.anyOf[0]: type must not be set inside a junctor',
    ],
    [
      'a field named only inside a junctor',
      root({ type: 'object', properties: { a: bounded }, anyOf: [{ properties: { b: {} } }] }),
      '(root).spec.anyOf[0]: field b is not specified outside the junctor',
    ],
    ['$ref', root({ $ref: '#/definitions/x' }), '(root).spec: $ref is not allowed in a CRD schema'],
    [
      'const',
      root({ type: 'string', maxLength: 1, const: 'a' }),
      '(root).spec: const is not allowed in a CRD schema',
    ],
    ['a string without maxLength', root({ type: 'string' }), '(root).spec: string without maxLength'],
    [
      'a list without maxItems',
      root({ type: 'array', items: bounded }),
      '(root).spec: list without maxItems',
    ],
    [
      'a map without maxProperties',
      root({ type: 'object', additionalProperties: bounded }),
      '(root).spec: map without maxProperties',
    ],
    [
      'a restriction on metadata.labels',
      {
        type: 'object',
        properties: { metadata: { type: 'object', properties: { labels: { type: 'object' } } } },
      },
      '(root).metadata: only name and generateName may be restricted, not labels',
    ],
  ])('refuses %s', (_, schema, problem) => {
    expect(structuralProblems(schema)).toContain(problem);
  });
});

describe('the generator', () => {
  it('refuses a zod union of objects, which a structural schema cannot state', () => {
    const union = z.toJSONSchema(z.union([z.object({ a: z.string() }), z.object({ b: z.string() })]));
    expect(() =>
      toStructural(union as Record<string, unknown>, 'spec', { rename: (k) => k, preserve: new Set() }),
    ).toThrow('spec: a union of non-strings has no structural form; use optional fields and a CEL rule');
  });
});
