import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type ApiException,
} from '@kubernetes/client-node';
import { widgetCrd } from './fixtures.js';
import { kubeConfigFor, startKubeDouble, type KubeDouble } from './index.js';

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

let double: KubeDouble;
beforeEach(async () => {
  double = await startKubeDouble();
});
afterEach(() => double.stop());

const code = async (p: Promise<unknown>) => {
  try {
    await p;
    return 0;
  } catch (err) {
    return (err as ApiException<unknown>).code;
  }
};

describe('CRUD through the real client-node', () => {
  it('creates, gets, lists by label, merge-patches and deletes a ConfigMap', async () => {
    const core = kubeConfigFor(double).makeApiClient(CoreV1Api);
    const created = await core.createNamespacedConfigMap({
      namespace: 'ns1',
      body: { metadata: { name: 'a', labels: { app: 'x' } }, data: { k: 'v' } },
    });
    expect(created.metadata?.uid).toBeTruthy();
    expect(created.metadata?.resourceVersion).toBe('1');
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    await core.createNamespacedConfigMap({ namespace: 'ns1', body: { metadata: { name: 'b' } } });
    expect(
      await code(core.createNamespacedConfigMap({ namespace: 'ns1', body: { metadata: { name: 'a' } } })),
    ).toBe(409);

    const labelled = await core.listNamespacedConfigMap({ namespace: 'ns1', labelSelector: 'app=x' });
    expect(labelled.items.map((i) => i.metadata?.name)).toEqual(['a']);
    const byName = await core.listConfigMapForAllNamespaces({ fieldSelector: 'metadata.name=b' });
    expect(byName.items.map((i) => i.metadata?.name)).toEqual(['b']);

    const patched = await core.patchNamespacedConfigMap(
      { name: 'a', namespace: 'ns1', body: { data: { k: null, k2: 'v2' } } },
      merge,
    );
    expect(patched.data).toEqual({ k2: 'v2' });
    expect(Number(patched.metadata?.resourceVersion)).toBeGreaterThan(2);

    await core.deleteNamespacedConfigMap({ name: 'a', namespace: 'ns1' });
    expect(await code(core.readNamespacedConfigMap({ name: 'a', namespace: 'ns1' }))).toBe(404);
    expect(double.writes({ kind: 'ConfigMap', name: 'a' })).toBe(4);
  });

  it('generateName, generation bumped only by spec changes, 409 on a stale resourceVersion', async () => {
    const apps = kubeConfigFor(double).makeApiClient(AppsV1Api);
    const sts = await apps.createNamespacedStatefulSet({
      namespace: 'default',
      body: {
        metadata: { generateName: 'web-' },
        spec: {
          replicas: 1,
          serviceName: 'web',
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { containers: [{ name: 'c', image: 'i:1' }] },
          },
        },
      },
    });
    const name = sts.metadata?.name ?? '';
    expect(name).toMatch(/^web-.{5}$/);
    expect(sts.metadata?.generation).toBe(1);
    const labelled = await apps.patchNamespacedStatefulSet(
      { name, namespace: 'default', body: { metadata: { labels: { x: 'y' } } } },
      merge,
    );
    expect(labelled.metadata?.generation).toBe(1);
    const status = await apps.replaceNamespacedStatefulSetStatus({
      name,
      namespace: 'default',
      body: { ...labelled, status: { replicas: 1, readyReplicas: 1 } },
    });
    expect(status.metadata?.generation).toBe(1);
    expect(status.status?.readyReplicas).toBe(1);
    const rolled = await apps.patchNamespacedStatefulSet(
      {
        name,
        namespace: 'default',
        body: { spec: { template: { spec: { containers: [{ name: 'c', image: 'i:2' }] } } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    expect(rolled.metadata?.generation).toBe(2);
    expect(rolled.spec?.template.spec?.containers).toEqual([{ name: 'c', image: 'i:2' }]);
    // The main endpoint keeps the status; the stale replace is refused.
    expect(rolled.status?.readyReplicas).toBe(1);
    expect(
      await code(apps.replaceNamespacedStatefulSet({ name, namespace: 'default', body: labelled })),
    ).toBe(409);
  });

  it('leases: a stale resourceVersion loses with 409, as leader election needs', async () => {
    const leases = kubeConfigFor(double).makeApiClient(CoordinationV1Api);
    const lease = await leases.createNamespacedLease({
      namespace: 'nexus',
      body: { metadata: { name: 'operator' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 2 } },
    });
    await leases.replaceNamespacedLease({
      name: 'operator',
      namespace: 'nexus',
      body: { ...lease, spec: { ...lease.spec, holderIdentity: 'b' } },
    });
    const stale = leases.replaceNamespacedLease({
      name: 'operator',
      namespace: 'nexus',
      body: { ...lease, spec: { ...lease.spec, holderIdentity: 'c' } },
    });
    expect(await code(stale)).toBe(409);
    expect(double.get({ kind: 'Lease', namespace: 'nexus', name: 'operator' }).spec).toMatchObject({
      holderIdentity: 'b',
    });
  });

  it('KubernetesObjectApi finds kinds through discovery; JSON patch works', async () => {
    const objects = KubernetesObjectApi.makeApiClient(kubeConfigFor(double));
    await objects.create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's', namespace: 'n' },
      stringData: { a: 'b' },
    });
    const read = await objects.read({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's', namespace: 'n' },
    });
    expect(read.metadata?.uid).toBeTruthy();
    const merged = await objects.patch(
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'n', annotations: { a: '1' } } },
      undefined,
      undefined,
      undefined,
      undefined,
      PatchStrategy.MergePatch,
    );
    expect(merged.metadata?.annotations).toEqual({ a: '1' });
    const core = kubeConfigFor(double).makeApiClient(CoreV1Api);
    const patched = await core.patchNamespacedSecret({
      name: 's',
      namespace: 'n',
      body: [{ op: 'add', path: '/metadata/labels', value: { l: '1' } }],
    });
    expect(patched.metadata?.labels).toEqual({ l: '1' });
  });

  it('custom objects need their CRD; the CRD is Established and serves the kind', async () => {
    const kc = kubeConfigFor(double);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const widget = {
      apiVersion: 'example.com/v1',
      kind: 'Widget',
      metadata: { name: 'w' },
      spec: { size: 1 },
    };
    expect(
      await code(
        custom.createNamespacedCustomObject({
          group: 'example.com',
          version: 'v1',
          namespace: 'd',
          plural: 'widgets',
          body: widget,
        }),
      ),
    ).toBe(404);
    const objects = KubernetesObjectApi.makeApiClient(kc);
    await objects.create(widgetCrd());
    const crd = double.get({ kind: 'CustomResourceDefinition', name: 'widgets.example.com' });
    expect((crd.status as { conditions: { type: string; status: string }[] }).conditions).toContainEqual(
      expect.objectContaining({ type: 'Established', status: 'True' }),
    );
    await custom.createNamespacedCustomObject({
      group: 'example.com',
      version: 'v1',
      namespace: 'd',
      plural: 'widgets',
      body: widget,
    });
    const got = (await custom.getNamespacedCustomObject({
      group: 'example.com',
      version: 'v1',
      namespace: 'd',
      plural: 'widgets',
      name: 'w',
    })) as { metadata: { generation: number } };
    expect(got.metadata.generation).toBe(1);
    // Strategic merge patches are refused for custom resources, as the real server does.
    const smp = custom.patchNamespacedCustomObject(
      {
        group: 'example.com',
        version: 'v1',
        namespace: 'd',
        plural: 'widgets',
        name: 'w',
        body: { spec: { size: 2 } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    expect(await code(smp)).toBe(415);
    const status = (await custom.patchNamespacedCustomObjectStatus(
      {
        group: 'example.com',
        version: 'v1',
        namespace: 'd',
        plural: 'widgets',
        name: 'w',
        body: { status: { phase: 'Ready' }, spec: { size: 9 } },
      },
      merge,
    )) as { spec: { size: number }; status: { phase: string }; metadata: { generation: number } };
    expect(status).toMatchObject({
      spec: { size: 1 },
      status: { phase: 'Ready' },
      metadata: { generation: 1 },
    });
    const main = (await custom.patchNamespacedCustomObject(
      {
        group: 'example.com',
        version: 'v1',
        namespace: 'd',
        plural: 'widgets',
        name: 'w',
        body: { status: { phase: 'X' }, spec: { size: 2 } },
      },
      merge,
    )) as typeof status;
    expect(main).toMatchObject({
      spec: { size: 2 },
      status: { phase: 'Ready' },
      metadata: { generation: 2 },
    });
  });
});
