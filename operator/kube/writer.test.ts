/**
 * The KubeWriter and the Event recorder against the Kubernetes API double (the one double the
 * project allows for the API server), driven by the real client-node transport.
 */
import { createLogger } from '../../platform/index.js';
import { kubeConfigFor, startKubeDouble, type KubeDouble } from '../../testing/kube-double/index.js';
import type { AspectObject, KubeObject, ObjectRef } from '../types.js';
import { KubeClient, MERGE_PATCH } from './client.js';
import { apiMessageOf, KubeApiError, KubeInvalid } from './errors.js';
import { EventRecorder } from './events.js';
import { ManualClock } from '../../testing/manual-clock.js';
import { TokenBucket } from './rate-limiter.js';
import { aspectManifest, installAspectCrd } from '../../testing/aspect-crd.js';
import { ApiKubeWriter } from './writer.js';

const logger = createLogger({ name: 'writer-test', level: 'silent' });
const errorOf = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => null,
    (e: unknown) => e,
  );

describe('the operator KubeWriter against the API double', () => {
  let double: KubeDouble;
  let kube: KubeClient;
  let writer: ApiKubeWriter;
  const counted: string[] = [];

  beforeAll(async () => {
    double = await startKubeDouble();
    installAspectCrd(double);
    kube = new KubeClient({
      kubeConfig: kubeConfigFor(double),
      onRequest: (v, c) => counted.push(`${v} ${c}`),
    });
    writer = new ApiKubeWriter(kube, new EventRecorder(kube, { instance: 'op-0', logger }));
  });
  afterAll(async () => {
    kube?.stop();
    await double?.stop();
  });

  const configMapRef: ObjectRef = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    namespace: 'team',
    name: 'wren-config',
  };

  it('waits the Retry-After of a 429 and sends again, a few times, then gives up with the 429', async () => {
    double.faults.add({ method: 'POST', path: /\/configmaps/, status: 429, retryAfterS: 1, times: 1 });
    await writer.create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'throttled', namespace: 'team' },
      data: {},
    });
    const [refused, served] = double.requests({ kind: 'ConfigMap', name: 'throttled', verb: 'create' });
    expect([refused?.status, served?.status]).toEqual([429, 201]);
    // The server asked for a second; timers may fire a millisecond early against Date.now().
    expect(served!.at - refused!.at).toBeGreaterThanOrEqual(995);

    double.faults.add({ method: 'POST', path: /\/configmaps/, status: 429, retryAfterS: 0, times: 10 });
    const err = await errorOf(
      writer.create({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'refused', namespace: 'team' },
      }),
    );
    expect((err as KubeApiError).status).toBe(429);
    expect(double.requests({ kind: 'ConfigMap', name: 'refused', verb: 'create' })).toHaveLength(4);
    double.faults.clear();
  });

  it('creates, merge-patches only what it is given (as application/merge-patch+json), and deletes', async () => {
    await writer.create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'wren-config', namespace: 'team', labels: { a: '1' } },
      data: { 'aspect.json': '{}', 'SOUL.md': 'soul' },
    });
    const patched = await writer.mergePatch(configMapRef, { data: { 'SOUL.md': 'new soul' } });
    expect(patched.data).toEqual({ 'aspect.json': '{}', 'SOUL.md': 'new soul' });
    const patches = double.requests({ kind: 'ConfigMap', name: 'wren-config', verb: 'patch' });
    expect(patches.map((r) => r.contentType)).toEqual([MERGE_PATCH]);

    await writer.delete(configMapRef);
    expect(double.find({ kind: 'ConfigMap', namespace: 'team', name: 'wren-config' })).toBeUndefined();
    await writer.delete(configMapRef); // already gone: fine
    expect(counted).toEqual(expect.arrayContaining(['create 201', 'patch 200', 'delete 200', 'delete 404']));
  });

  it('writes status through the status subresource only', async () => {
    const aspect = await writer.create(aspectManifest('team', 'lark') as KubeObject);
    const ref = { apiVersion: 'nexus.dev/v1alpha1', kind: 'Aspect', namespace: 'team', name: 'lark' };
    const after = await writer.patchStatus(ref, { phase: 'Pending', observedGeneration: 1 });
    expect(after.status).toEqual({ phase: 'Pending', observedGeneration: 1 });
    expect(after.metadata.generation).toBe(aspect.metadata.generation);
    const [write] = double.requests({ kind: 'Aspect', name: 'lark', verb: 'patch' });
    expect(write).toMatchObject({ subresource: 'status', contentType: MERGE_PATCH });
  });

  it('writes a Secret blind: create, then a merge patch on 409, never a get or list of a Secret (B.61)', async () => {
    const ref: ObjectRef = { apiVersion: 'v1', kind: 'Secret', namespace: 'team', name: 'wren-token' };
    const owner = {
      apiVersion: 'nexus.dev/v1alpha1',
      kind: 'Aspect',
      name: 'wren',
      uid: 'u-1',
      controller: true,
    };
    await writer.writeSecret(ref, { token: 'nxa_first' }, owner, { 'nexus.dev/aspect': 'wren' });
    await writer.writeSecret(ref, { token: 'nxa_second' }, owner, { 'nexus.dev/aspect': 'wren' });

    const secret = double.get({ kind: 'Secret', namespace: 'team', name: 'wren-token' });
    const data = secret.data as Record<string, string>;
    expect(Buffer.from(data.token as string, 'base64').toString()).toBe('nxa_second');
    expect(secret.metadata.ownerReferences).toEqual([owner]);
    expect(secret.metadata.labels).toEqual({ 'nexus.dev/aspect': 'wren' });
    const requests = double.requests({ kind: 'Secret' });
    expect(requests.map((r) => [r.verb, r.status])).toEqual([
      ['create', 201],
      ['create', 409],
      ['patch', 200],
    ]);
    expect(requests.filter((r) => r.method === 'GET')).toEqual([]);
  });

  it('surfaces a 422 as KubeInvalid with the API server message, and other refusals as KubeApiError', async () => {
    const unvalidate = double.validate(
      'StatefulSet',
      () => 'spec.template.spec.volumes[0].name: Required value',
    );
    try {
      const err = await errorOf(
        writer.create({
          apiVersion: 'apps/v1',
          kind: 'StatefulSet',
          metadata: { name: 'wren', namespace: 'team' },
          spec: {},
        }),
      );
      expect(err).toBeInstanceOf(KubeInvalid);
      expect(err).toMatchObject({ status: 422, reason: 'Invalid' });
      expect((err as KubeInvalid).apiMessage).toContain('spec.template.spec.volumes[0].name: Required value');
      expect(apiMessageOf(err)).toBe((err as KubeInvalid).apiMessage); // what the Aspect's status shows
    } finally {
      unvalidate();
    }
    double.faults.add({ method: 'PATCH', path: /configmaps\/missing/, status: 500 });
    const err = await errorOf(writer.mergePatch({ ...configMapRef, name: 'missing' }, { data: {} }));
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({ status: 500 });
    const notFound = await errorOf(writer.mergePatch({ ...configMapRef, name: 'missing' }, { data: {} }));
    expect(notFound).toMatchObject({ status: 404, reason: 'NotFound' });
  });

  it('records Events about an Aspect, a repeat bumping the count of the same Event', async () => {
    const aspect = double.get({ kind: 'Aspect', namespace: 'team', name: 'lark' }) as unknown as AspectObject;
    await writer.event(aspect, 'Warning', 'ConfigMapMissing', 'configmap lark-identity is missing');
    await writer.event(aspect, 'Warning', 'ConfigMapMissing', 'configmap lark-identity is missing');
    await writer.event(aspect, 'Normal', 'Ready', 'the aspect is registered');
    const events = double.list({ kind: 'Event', apiVersion: 'v1', namespace: 'team' });
    expect(events.map((e) => [e.reason, e.count, e.type])).toEqual(
      expect.arrayContaining([
        ['ConfigMapMissing', 2, 'Warning'],
        ['Ready', 1, 'Normal'],
      ]),
    );
    expect(events).toHaveLength(2);
    expect(events[0]?.involvedObject).toMatchObject({
      kind: 'Aspect',
      name: 'lark',
      uid: aspect.metadata.uid,
    });

    // An Event that expired meanwhile is written anew; a refused one fails nothing.
    const missing = events.find((e) => e.reason === 'ConfigMapMissing');
    double.delete({
      kind: 'Event',
      apiVersion: 'v1',
      namespace: 'team',
      name: missing?.metadata.name as string,
    });
    await writer.event(aspect, 'Warning', 'ConfigMapMissing', 'configmap lark-identity is missing');
    double.faults.add({ method: 'POST', path: /events/, status: 500 });
    await writer.event(aspect, 'Warning', 'Other', 'refused');
    const after = double.list({ kind: 'Event', apiVersion: 'v1', namespace: 'team' });
    expect(after.map((e) => [e.reason, e.count])).toEqual(
      expect.arrayContaining([
        ['ConfigMapMissing', 1],
        ['Ready', 1],
      ]),
    );
    expect(after).toHaveLength(2);
  });

  it('drops an Event, never waits, when the Event budget is spent', async () => {
    const aspect = double.get({ kind: 'Aspect', namespace: 'team', name: 'lark' }) as unknown as AspectObject;
    let dropped = 0;
    const recorder = new EventRecorder(kube, {
      instance: 'op-0',
      logger,
      limiter: new TokenBucket(1, 1, new ManualClock()), // one token; the clock never refills it
      onDropped: () => dropped++,
    });
    const before = double.list({ kind: 'Event', apiVersion: 'v1', namespace: 'team' }).length;
    await recorder.record(aspect, 'Warning', 'Budget', 'first, written');
    await recorder.record(aspect, 'Warning', 'Budget', 'second, dropped');
    const after = double.list({ kind: 'Event', apiVersion: 'v1', namespace: 'team' });
    expect(after).toHaveLength(before + 1);
    expect(after.some((e) => e.message === 'first, written')).toBe(true);
    expect(dropped).toBe(1);
  });
});
