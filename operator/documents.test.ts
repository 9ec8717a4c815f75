import { referencedConfigMapNames, resolveDocuments } from './documents.js';
import { aspect, parsed } from './test/fixtures.js';
import type { KubeObject } from './types.js';

const configMap = (
  name: string,
  data: Record<string, string>,
  binaryData?: Record<string, string>,
): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'team' },
  data,
  ...(binaryData ? { binaryData } : {}),
});

const kubeOf = (spec: Record<string, unknown>) => parsed(aspect(spec)).kube;

describe('identity documents and script.json (B.66, B.107)', () => {
  const spec = {
    identity: {
      soul: { value: 'calm' },
      agent: { configMapKeyRef: { name: 'wren-identity', key: 'AGENT.md' } },
    },
    script: { configMapKeyRef: { name: 'scripts', key: 'wren.json' } },
  };

  it('are read inline or from the ConfigMaps they name', () => {
    const maps = new Map([
      ['wren-identity', configMap('wren-identity', { 'AGENT.md': 'duties' })],
      [
        'scripts',
        configMap('scripts', {}, { 'wren.json': Buffer.from('[{"reply":"hi"}]').toString('base64') }),
      ],
    ]);
    expect(resolveDocuments(kubeOf(spec), maps)).toEqual({
      ok: true,
      files: { 'SOUL.md': 'calm', 'AGENT.md': 'duties', 'script.json': '[{"reply":"hi"}]' },
    });
    expect(referencedConfigMapNames(aspect(spec).spec)).toEqual(['scripts', 'wren-identity']);
  });

  it('are followed from a spec as written, even one that fails validation (B.107)', () => {
    const invalid = {
      ...spec,
      contextMode: 'nonsense',
      identity: { soul: { configMapKeyRef: { name: 'souls' } } },
    };
    expect(referencedConfigMapNames(invalid)).toEqual(['scripts', 'souls']);
    expect(referencedConfigMapNames(undefined)).toEqual([]);
  });

  it('say which ConfigMap or key is missing (transient)', () => {
    expect(resolveDocuments(kubeOf(spec), new Map())).toEqual({
      ok: false,
      reason: 'ConfigMapMissing',
      message: 'spec.identity.agent: ConfigMap wren-identity does not exist',
    });
    expect(
      resolveDocuments(kubeOf(spec), new Map([['wren-identity', configMap('wren-identity', {})]])),
    ).toMatchObject({
      reason: 'ConfigMapMissing',
      message: 'spec.identity.agent: ConfigMap wren-identity has no key AGENT.md',
    });
  });

  it('refuse what the runtime would refuse in a referenced ConfigMap (B.96): a document over 64 KiB, a bad script', () => {
    // Inline values are refused earlier, by parseAspectSpec; a ConfigMap's content only here.
    const ref = (key: string) => ({ configMapKeyRef: { name: 'docs', key } });
    const docs = (data: Record<string, string>) => new Map([['docs', configMap('docs', data)]]);
    const big = 'é'.repeat(40_000); // 80,000 bytes in under 65,536 characters
    expect(
      resolveDocuments(kubeOf({ identity: { primer: ref('PRIMER.md') } }), docs({ 'PRIMER.md': big })),
    ).toEqual({
      ok: false,
      reason: 'InvalidSpec',
      message: 'spec.identity.primer: must be at most 64 KiB of UTF-8',
    });
    expect(
      resolveDocuments(kubeOf({ script: ref('script.json') }), docs({ 'script.json': 'not json' })),
    ).toMatchObject({
      reason: 'InvalidSpec',
      message: 'spec.script: must be JSON (a list of script steps, B.52)',
    });
    expect(
      resolveDocuments(kubeOf({ script: ref('script.json') }), docs({ 'script.json': '[{"match":"("}]' })),
    ).toMatchObject({
      reason: 'InvalidSpec',
      message: 'spec.script: [0].match: must be a valid regular expression',
    });
  });
});
