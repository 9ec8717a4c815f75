/**
 * The corpus of Aspects (protocol/test/crd-fixtures/) and the samples in examples/, checked the
 * three ways of ADR 0013 (the stand-in for an API server, B.65): the OpenAPI schema, the CEL rules,
 * and the operator's parse (B.96). A valid case passes all three. An invalid case is refused by the
 * schema or a rule, with the text its `# crd:` comment pins, AND by the operator, with exactly the
 * text of its `# operator:` comment, so nothing the API server lets through reaches the runtime.
 * The `operator-only` cases are what CEL cannot check (the model table, byte limits, script.json,
 * input schemas): the API server admits them and the operator reports `InvalidSpec`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ASPECT_API_VERSION, ASPECT_KIND } from '../aspect-resource.js';
import { ASPECT_RULES } from './index.js';
import { checkAspect, yamlDocuments } from '../test/crd/check-aspect.js';

const FIXTURES = 'protocol/test/crd-fixtures';
const yamlFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
const onlyDocument = (file: string) => {
  const docs = yamlDocuments(readFileSync(file, 'utf8'));
  expect(docs).toHaveLength(1);
  return docs[0];
};

describe('valid Aspects', () => {
  it.each(yamlFiles(path.join(FIXTURES, 'valid')))(
    '%s passes the schema, the rules and the operator',
    (file) => {
      expect(checkAspect(onlyDocument(path.join(FIXTURES, 'valid', file)))).toEqual({
        openApi: [],
        cel: [],
        operator: null,
      });
    },
  );
});

const invalid = yamlFiles(path.join(FIXTURES, 'invalid')).map((file) => {
  const text = readFileSync(path.join(FIXTURES, 'invalid', file), 'utf8');
  const expected = (label: string) => new RegExp(`^# ${label}: (.*)$`, 'm').exec(text)?.[1];
  return { file, text, crd: expected('crd'), operator: expected('operator') };
});

describe('invalid Aspects', () => {
  it.each(invalid)('$file is refused by the CRD and by the operator', ({ file, crd, operator }) => {
    expect(crd).toBeDefined();
    expect(operator).toBeDefined();
    const verdicts = checkAspect(onlyDocument(path.join(FIXTURES, 'invalid', file)));
    const refusals = [...verdicts.openApi, ...verdicts.cel];
    expect(refusals.some((r) => r.includes(crd ?? '?'))).toBe(true);
    expect(refusals.join('\n')).not.toContain('evaluation error');
    expect(verdicts.operator).toBe(operator);
  });

  it('make every CEL rule refuse something', () => {
    const refusals = invalid.flatMap(
      ({ file }) => checkAspect(onlyDocument(path.join(FIXTURES, 'invalid', file))).cel,
    );
    for (const { message } of Object.values(ASPECT_RULES).flat())
      expect({ message, refused: refusals.some((r) => r.endsWith(`: ${message}`)) }).toEqual({
        message,
        refused: true,
      });
  });
});

describe('Aspects only the operator can refuse (B.96)', () => {
  const dir = path.join(FIXTURES, 'operator-only');
  it.each(yamlFiles(dir))('%s passes the CRD and is refused by the operator as InvalidSpec', (file) => {
    const operator = /^# operator: (.*)$/m.exec(readFileSync(path.join(dir, file), 'utf8'))?.[1];
    expect(operator).toBeDefined();
    expect(checkAspect(onlyDocument(path.join(dir, file)))).toEqual({ openApi: [], cel: [], operator });
  });
});

describe('examples/', () => {
  const examples = yamlFiles('examples');
  it('holds the four samples of issue 11', () => {
    expect(examples).toEqual([
      'aspect-minimal.yaml',
      'aspect-scheduling.yaml',
      'aspect-with-hands.yaml',
      'frame.yaml',
    ]);
  });

  it.each(examples)('%s: every Aspect passes, every ConfigMap it names is in the file', (file) => {
    const docs = yamlDocuments(readFileSync(path.join('examples', file), 'utf8')) as {
      apiVersion: string;
      kind: string;
      metadata: { name: string };
      spec?: { identity?: Record<string, { configMapKeyRef?: { name: string; key: string } }> };
      data?: Record<string, string>;
    }[];
    const aspects = docs.filter((d) => d.kind === ASPECT_KIND);
    expect(aspects.length).toBeGreaterThan(0);
    for (const aspect of aspects) {
      expect(aspect.apiVersion).toBe(ASPECT_API_VERSION);
      expect(checkAspect(aspect)).toEqual({ openApi: [], cel: [], operator: null });
      for (const source of Object.values(aspect.spec?.identity ?? {})) {
        const ref = source.configMapKeyRef;
        if (!ref) continue;
        const configMap = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === ref.name);
        expect(configMap?.data?.[ref.key]).toEqual(expect.any(String));
      }
    }
  });
});
