import { desiredConfigMap, desiredPvc, desiredStatefulSet } from './desired.js';
import { mergePatch } from './diff.js';
import { plan, planObject } from './plan.js';
import { POD_METADATA_KEYS_ANNOTATION } from './pod-spec.js';
import { parseQuantity } from './quantity.js';
import { aspect, asServerStored, parsed, settings } from './test/fixtures.js';
import type { KubeObject } from './types.js';

type Json = Record<string, unknown>;

function objects(spec: Json = {}, tokenId = '17') {
  const object = aspect(spec);
  const input = { aspect: object, parsed: parsed(object), settings };
  const configMap = desiredConfigMap({ ...input, documents: {} });
  return {
    pvc: desiredPvc(input),
    configMap,
    statefulSet: desiredStatefulSet({ ...input, configMap, tokenId }),
  };
}

const podSpecOf = (patch: unknown) => ((patch as Json).spec as { template: { spec: Json } }).template.spec;

describe('plan(desired, observed)', () => {
  it('creates what is missing, in the order given', () => {
    const { pvc, configMap, statefulSet } = objects();
    const actions = plan([
      { desired: pvc, observed: undefined },
      { desired: configMap, observed: undefined },
      { desired: statefulSet, observed: undefined },
    ]);
    expect(actions.map((a) => a.kind === 'create' && a.object.kind)).toEqual([
      'PersistentVolumeClaim',
      'ConfigMap',
      'StatefulSet',
    ]);
  });

  it('writes nothing when the stored objects are as desired, server defaults and all (B.63)', () => {
    const { pvc, configMap, statefulSet } = objects({
      resources: { requests: { cpu: '0.5', memory: '1024Mi' } },
      pod: { nodeSelector: { pool: 'a' }, labels: { team: 'x' } },
    });
    const stored = (o: KubeObject) => {
      const s = asServerStored(o);
      // The API server keeps quantities in canonical form.
      if (s.kind === 'StatefulSet') {
        const c = (podSpecOf(s).containers as Json[])[0]!;
        c.resources = { requests: { cpu: '500m', memory: '1Gi' } };
      }
      return s;
    };
    expect(
      plan([
        { desired: pvc, observed: stored(pvc) },
        { desired: configMap, observed: stored(configMap) },
        { desired: statefulSet, observed: stored(statefulSet) },
      ]),
    ).toEqual([]);
  });

  it('patches only the field that changed', () => {
    const before = asServerStored(objects().statefulSet);
    const action = planObject(objects({ image: 'runtime:2' }).statefulSet, before);
    expect(action).toEqual({
      kind: 'patch',
      ref: { apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: 'team', name: 'wren' },
      patch: {
        spec: { template: { spec: { containers: [expect.objectContaining({ image: 'runtime:2' })] } } },
      },
    });
  });

  it('records a new token on the StatefulSet without touching its pod template', () => {
    const before = asServerStored(objects().statefulSet);
    expect(planObject(objects({}, '18').statefulSet, before)).toMatchObject({
      kind: 'patch',
      patch: { metadata: { annotations: { 'nexus.dev/token-id': '18' } } },
    });
    expect(Object.keys((planObject(objects({}, '18').statefulSet, before) as { patch: Json }).patch)).toEqual(
      ['metadata'],
    );
  });

  it('scales to zero with one field when suspended', () => {
    const before = asServerStored(objects().statefulSet);
    expect(planObject(objects({ suspend: true }).statefulSet, before)).toMatchObject({
      patch: { spec: { replicas: 0 } },
    });
  });

  it('removes pod settings that left the spec, and only the template keys the operator set', () => {
    const before = asServerStored(
      objects({ pod: { nodeSelector: { pool: 'a' }, priorityClassName: 'high', labels: { team: 'x' } } })
        .statefulSet,
    );
    // Someone else's annotation on the template (kubectl rollout restart) is not ours to remove.
    const meta = (before.spec as { template: { metadata: { annotations: Json } } }).template.metadata;
    meta.annotations['kubectl.kubernetes.io/restartedAt'] = '2026-01-01T00:00:00Z';
    const action = planObject(objects().statefulSet, before) as { patch: Json };
    const template = (action.patch.spec as { template: Json }).template;
    expect(template).toEqual({
      metadata: { labels: { team: null } },
      spec: { nodeSelector: null, priorityClassName: null },
    });
    expect((action.patch.metadata as { annotations: Json }).annotations).toEqual({
      [POD_METADATA_KEYS_ANNOTATION]: JSON.stringify({ labels: [], annotations: [] }),
    });
  });

  it('sends a changed list whole: a merge patch cannot patch inside one', () => {
    const before = asServerStored(
      objects({ pod: { tolerations: [{ key: 'a', operator: 'Exists' }] } }).statefulSet,
    );
    const after = objects({
      pod: {
        tolerations: [
          { key: 'a', operator: 'Exists' },
          { key: 'b', operator: 'Exists' },
        ],
      },
    });
    expect(podSpecOf((planObject(after.statefulSet, before) as { patch: Json }).patch)).toEqual({
      tolerations: [
        { key: 'a', operator: 'Exists' },
        { key: 'b', operator: 'Exists' },
      ],
    });
  });

  it('replaces the ConfigMap’s data exactly, removing keys that went', () => {
    const object = aspect();
    const input = { aspect: object, parsed: parsed(object), settings };
    const before = asServerStored(desiredConfigMap({ ...input, documents: { 'SOUL.md': 'calm' } }));
    expect(planObject(desiredConfigMap({ ...input, documents: {} }), before)).toMatchObject({
      kind: 'patch',
      patch: { data: { 'SOUL.md': null } },
    });
  });

  it('only grows a PVC, never patches the rest of its spec, and adopts a retained home', () => {
    const stored = asServerStored(objects().pvc);
    expect(
      planObject(objects({ home: { size: '1024Mi', storageClassName: 'other' } }).pvc, stored),
    ).toBeNull();
    expect(planObject(objects({ home: { size: '512Mi' } }).pvc, stored)).toBeNull();
    expect(planObject(objects({ home: { size: '2Gi' } }).pvc, stored)).toMatchObject({
      patch: { spec: { resources: { requests: { storage: '2Gi' } } } },
    });
    const retained = { ...stored, metadata: { ...stored.metadata, ownerReferences: undefined } };
    expect(planObject(objects().pvc, retained)).toMatchObject({
      patch: {
        metadata: { ownerReferences: [expect.objectContaining({ uid: 'uid-wren', controller: true })] },
      },
    });
  });

  it('keeps owner references of others beside its own', () => {
    const stored = asServerStored(objects().configMap);
    const other = { apiVersion: 'v1', kind: 'Thing', name: 't', uid: 'uid-t' };
    stored.metadata.ownerReferences = [other, ...(stored.metadata.ownerReferences ?? [])];
    expect(planObject(objects().configMap, stored)).toBeNull();
  });
});

describe('mergePatch', () => {
  it('ignores what the server added and sends what differs', () => {
    expect(mergePatch({ a: 1, b: { c: 2 } }, { a: 1, b: { c: 2, d: 3 }, e: 4 })).toBeUndefined();
    expect(mergePatch({ a: 1, b: { c: 3 } }, { a: 1, b: { c: 2, d: 3 } })).toEqual({ b: { c: 3 } });
    expect(mergePatch({ l: [{ x: 1 }] }, { l: [{ x: 1, y: 2 }] })).toBeUndefined();
    expect(mergePatch({ l: [{ x: 1 }] }, { l: [{ x: 1 }, { x: 2 }] })).toEqual({ l: [{ x: 1 }] });
  });

  it('removes keys where the rules say the desired object is the whole truth', () => {
    expect(mergePatch({ m: { a: '1' } }, { m: { a: '1', b: '2' } }, { exact: ['m'] })).toEqual({
      m: { b: null },
    });
    expect(mergePatch({}, { k: 1, j: 2 }, { removable: ['k'] })).toEqual({ k: null });
  });
});

describe('parseQuantity', () => {
  it('reads Kubernetes quantities exactly', () => {
    expect(parseQuantity('1Gi')).toBe(parseQuantity('1024Mi'));
    expect(parseQuantity('0.5')).toBe(parseQuantity('500m'));
    expect(parseQuantity(2)).toBe(parseQuantity('2000m'));
    expect(parseQuantity('1e3')).toBe(parseQuantity('1k'));
    expect(parseQuantity('1E')).toBe(10n ** 27n);
    expect(parseQuantity('2Gi')! > parseQuantity('2G')!).toBe(true);
    expect(parseQuantity('lots')).toBeNull();
  });
});
