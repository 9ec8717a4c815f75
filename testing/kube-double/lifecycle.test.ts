import {
  AppsV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type ApiException,
} from '@kubernetes/client-node';
import { waitUntil } from '../wait.js';
import { kubeConfigFor, startKubeDouble, type KubeDouble, type Obj } from './index.js';

let double: KubeDouble;
beforeEach(async () => {
  double = await startKubeDouble();
});
afterEach(() => double.stop());

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

const failure = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    const e = err as ApiException<string>;
    return {
      code: e.code,
      body: JSON.parse(e.body) as { reason: string; message: string },
      headers: e.headers,
    };
  }
  throw new Error('expected the call to fail');
};

const cm = (name: string, extra: Partial<Obj['metadata']> = {}): Obj => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'ns', ...extra },
});
const cmRef = (name: string) => ({ kind: 'ConfigMap', namespace: 'ns', name });

describe('deletion: finalizers and garbage collection', () => {
  it('an object with finalizers lingers with a deletionTimestamp until they are removed', async () => {
    const core = kubeConfigFor(double).makeApiClient(CoreV1Api);
    await core.createNamespacedConfigMap({
      namespace: 'ns',
      body: { metadata: { name: 'f', finalizers: ['x/y'] } },
    });
    await core.deleteNamespacedConfigMap({ name: 'f', namespace: 'ns' });
    const lingering = await core.readNamespacedConfigMap({ name: 'f', namespace: 'ns' });
    expect(lingering.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    const refused = await failure(
      core.patchNamespacedConfigMap(
        { name: 'f', namespace: 'ns', body: { metadata: { finalizers: ['x/y', 'new'] } } },
        merge,
      ),
    );
    expect(refused.code).toBe(422);
    await core.patchNamespacedConfigMap(
      { name: 'f', namespace: 'ns', body: { metadata: { finalizers: null } } },
      merge,
    );
    expect(double.find(cmRef('f'))).toBeUndefined();
  });

  it('background deletion removes dependents by owner uid; orphan keeps them without the reference', () => {
    const owner = double.put(cm('owner'));
    const ownerRef = { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid ?? '' };
    const other = double.put(cm('other'));
    const otherRef = { ...ownerRef, name: 'other', uid: other.metadata.uid ?? '' };
    double.put(cm('dep', { ownerReferences: [ownerRef] }));
    double.put(cm('shared', { ownerReferences: [ownerRef, otherRef] }));
    double.put(cm('stranger', { ownerReferences: [{ ...ownerRef, uid: 'some-other-uid' }] }));
    double.delete(cmRef('owner'));
    expect(double.find(cmRef('dep'))).toBeUndefined();
    expect(double.get(cmRef('shared')).metadata.ownerReferences).toEqual([otherRef]);
    expect(double.find(cmRef('stranger'))).toBeDefined();

    double.put(cm('orphan', { ownerReferences: [otherRef] }));
    double.delete(cmRef('other'), 'Orphan');
    expect(double.get(cmRef('orphan')).metadata.ownerReferences).toBeUndefined();
    expect(double.get(cmRef('shared')).metadata.ownerReferences).toBeUndefined();
  });

  it('foreground deletion keeps the owner until its dependents are gone', () => {
    const owner = double.put(cm('owner'));
    const ownerRef = { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid ?? '' };
    double.put(cm('dep', { ownerReferences: [ownerRef], finalizers: ['hold'] }));
    double.delete(cmRef('owner'), 'Foreground');
    expect(double.get(cmRef('owner')).metadata.finalizers).toEqual(['foregroundDeletion']);
    expect(double.get(cmRef('dep')).metadata.deletionTimestamp).toBeDefined();
    double.update(cmRef('dep'), (o) => (o.metadata.finalizers = []));
    expect(double.find(cmRef('dep'))).toBeUndefined();
    expect(double.find(cmRef('owner'))).toBeUndefined();
  });

  it('deleting a namespace deletes what is in it', () => {
    double.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns' } });
    double.put(cm('a'));
    double.delete({ kind: 'Namespace', name: 'ns' });
    expect(double.list({ kind: 'ConfigMap', namespace: 'ns' })).toEqual([]);
  });
});

describe('faults and validation seen by the real client', () => {
  it('injected 409, 429 (with Retry-After) and 500 reach client-node as Status errors', async () => {
    const core = kubeConfigFor(double).makeApiClient(CoreV1Api);
    double.faults.add({ method: 'POST', path: /configmaps/, status: 409 });
    double.faults.add({ method: 'GET', status: 429, retryAfterS: 7 });
    double.faults.add({ method: 'GET', status: 500 });
    const conflict = await failure(
      core.createNamespacedConfigMap({ namespace: 'ns', body: { metadata: { name: 'a' } } }),
    );
    expect(conflict).toMatchObject({ code: 409, body: { reason: 'Conflict' } });
    const throttled = await failure(core.listNamespacedConfigMap({ namespace: 'ns' }));
    expect(throttled).toMatchObject({
      code: 429,
      body: { reason: 'TooManyRequests' },
      headers: { 'retry-after': '7' },
    });
    const broken = await failure(core.listNamespacedConfigMap({ namespace: 'ns' }));
    expect(broken).toMatchObject({ code: 500, body: { reason: 'InternalError' } });
    expect((await core.listNamespacedConfigMap({ namespace: 'ns' })).items).toEqual([]);
    expect(double.requests({ kind: 'ConfigMap' }).map((r) => r.status)).toEqual([409, 429, 500, 200]);
  });

  it('a hang fault, matched by body, leaves that request unanswered until the client gives up', async () => {
    double.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns' } });
    const fault = double.faults.add({ method: 'POST', body: /"held"/, hang: true });
    const post = (name: string, signal?: AbortSignal) =>
      fetch(`${double.url}/api/v1/namespaces/ns/configmaps`, {
        method: 'POST',
        headers: { authorization: `Bearer ${double.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } }),
        ...(signal ? { signal } : {}),
      });
    const giveUp = new AbortController();
    const held = post('held', giveUp.signal);
    await waitUntil(() => fault.hits === 1, { timeoutMs: 10_000, what: 'the held request to arrive' });
    expect((await post('free')).status).toBe(201); // other requests are served meanwhile
    giveUp.abort();
    await expect(held).rejects.toThrow();
    expect(double.find({ kind: 'ConfigMap', namespace: 'ns', name: 'held' })).toBeUndefined();
  });

  it('a validate hook makes the API answer 422 Invalid with its message', async () => {
    const apps = kubeConfigFor(double).makeApiClient(AppsV1Api);
    double.validate('StatefulSet', (o) =>
      JSON.stringify(o.spec).includes('forbidden')
        ? 'spec.template: Forbidden: updates to statefulset spec are forbidden'
        : null,
    );
    const refused = await failure(
      apps.createNamespacedStatefulSet({
        namespace: 'ns',
        body: { metadata: { name: 's' }, spec: { selector: {}, serviceName: 'forbidden', template: {} } },
      }),
    );
    expect(refused.code).toBe(422);
    expect(refused.body).toMatchObject({ reason: 'Invalid' });
    expect(refused.body.message).toContain('updates to statefulset spec are forbidden');
    expect(double.writes({ kind: 'StatefulSet' })).toBe(1);
  });
});

describe('stand-in controllers (started explicitly)', () => {
  const sts = (image: string, replicas = 1): Obj => ({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'web', namespace: 'ns' },
    spec: {
      replicas,
      serviceName: 'web',
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image }] } },
      volumeClaimTemplates: [
        { metadata: { name: 'home' }, spec: { resources: { requests: { storage: '2Gi' } } } },
      ],
    },
  });
  const pod = { namespace: 'ns', name: 'web-0' };

  it('the StatefulSet controller makes pod NAME-0, rolls it on a template change, and reports readiness', () => {
    double.controllers.statefulSets();
    double.controllers.pvcBinder();
    double.put(sts('img:1'));
    const first = double.get({ kind: 'Pod', ...pod });
    expect(first.spec).toMatchObject({ containers: [{ name: 'main', image: 'img:1' }] });
    expect(
      double.get({ kind: 'PersistentVolumeClaim', namespace: 'ns', name: 'home-web-0' }).status,
    ).toMatchObject({
      phase: 'Bound',
      capacity: { storage: '2Gi' },
    });
    double.markPodReady(pod);
    expect(double.get({ kind: 'StatefulSet', namespace: 'ns', name: 'web' }).status).toMatchObject({
      readyReplicas: 1,
      replicas: 1,
    });

    double.update({ kind: 'StatefulSet', namespace: 'ns', name: 'web' }, (o) => (o.spec = sts('img:2').spec));
    const rolled = double.get({ kind: 'Pod', ...pod });
    expect(rolled.metadata.uid).not.toBe(first.metadata.uid);
    expect(rolled.spec).toMatchObject({ containers: [{ image: 'img:2' }] });
    expect(double.get({ kind: 'StatefulSet', namespace: 'ns', name: 'web' }).status).toMatchObject({
      readyReplicas: 0,
    });

    double.markPodUnschedulable(pod);
    expect(double.get({ kind: 'Pod', ...pod }).status).toMatchObject({
      conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' }],
    });
    double.markPodWaiting(pod, 'ImagePullBackOff');
    expect(double.get({ kind: 'Pod', ...pod }).status).toMatchObject({
      containerStatuses: [{ name: 'main', state: { waiting: { reason: 'ImagePullBackOff' } } }],
    });

    double.update(
      { kind: 'StatefulSet', namespace: 'ns', name: 'web' },
      (o) => ((o.spec as { replicas: number }).replicas = 0),
    );
    expect(double.find({ kind: 'Pod', ...pod })).toBeUndefined();
    expect(double.store.listenerErrors).toEqual([]);
  });

  it('without the controller nothing makes pods', () => {
    double.put(sts('img:1'));
    expect(double.list({ kind: 'Pod' })).toEqual([]);
  });
});
