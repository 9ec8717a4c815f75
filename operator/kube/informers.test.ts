/**
 * The operator's informers against the Kubernetes API double and the real client-node informer:
 * what they cache, and that they keep following the cluster after the faults client-node does not
 * survive by itself (a watch answered 500, a dropped connection) and after a 410 Gone.
 */
import { createLogger } from '../../platform/index.js';
import { aspectManifest, installAspectCrd } from '../../testing/aspect-crd.js';
import { waitUntil } from '../../testing/wait.js';
import {
  kubeConfigFor,
  startKubeDouble,
  type KubeDouble,
  type Obj,
} from '../../testing/kube-double/index.js';
import { MANAGED_BY, MANAGED_BY_LABEL } from '../types.js';
import { KubeClient } from './client.js';
import { Informers, type WatchedKind } from './informers.js';

const logger = createLogger({ name: 'informers-test', level: 'silent' });

const configMap = (namespace: string, name: string, data: Record<string, string> = {}): Obj => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace },
  data,
});
const pvc = (namespace: string, name: string, owned: boolean): Obj => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name, namespace, ...(owned ? { labels: { [MANAGED_BY_LABEL]: MANAGED_BY } } : {}) },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
});

describe('the operator informers against the API double', () => {
  let double: KubeDouble;
  let kube: KubeClient;
  let informers: Informers | undefined;
  const changes: string[] = [];
  const restarts: WatchedKind[] = [];

  beforeEach(async () => {
    double = await startKubeDouble();
    installAspectCrd(double);
    kube = new KubeClient({ kubeConfig: kubeConfigFor(double) });
    changes.length = 0;
    restarts.length = 0;
  });
  afterEach(async () => {
    await informers?.stop();
    informers = undefined;
    kube.stop();
    await double.stop();
  });

  const start = async (namespaces: string[] = []) => {
    informers = new Informers({
      kube,
      namespaces,
      logger,
      onChange: (kind, verb, object) =>
        changes.push(`${verb} ${kind} ${object.metadata.namespace}/${object.metadata.name}`),
      onRestart: (kind) => restarts.push(kind),
    });
    await informers.start();
    await informers.whenSynced();
    return informers;
  };
  const seen = (change: string) =>
    waitUntil(() => changes.includes(change), { timeoutMs: 10_000, what: change });

  it('gives listed objects their apiVersion and kind, which built-in list items lack', async () => {
    double.put(configMap('team', 'listed'));
    double.put(pvc('team', 'listed-home', true));
    const cache = await start();
    double.put(configMap('team', 'watched'));
    await seen('add ConfigMap team/watched');
    for (const [kind, name] of [
      ['ConfigMap', 'listed'],
      ['ConfigMap', 'watched'],
      ['PersistentVolumeClaim', 'listed-home'],
    ] as const)
      expect({ name, ...pick(cache.get(kind, 'team', name)) }).toEqual({ name, apiVersion: 'v1', kind });
  });

  it('caches Aspects, every ConfigMap, and only the PVCs labelled as the operator’s', async () => {
    double.put(aspectManifest('team', 'wren'));
    double.put(configMap('team', 'wren-identity', { 'SOUL.md': 'x' }));
    double.put(pvc('team', 'wren-home', true));
    double.put(pvc('team', 'someone-elses', false));
    const cache = await start();
    expect(cache.synced()).toBe(true);
    expect(cache.get('Aspect', 'team', 'wren')?.metadata.name).toBe('wren');
    expect(cache.get('ConfigMap', 'team', 'wren-identity')?.data).toEqual({ 'SOUL.md': 'x' });
    expect(cache.get('PersistentVolumeClaim', 'team', 'wren-home')).toBeDefined();
    expect(cache.get('PersistentVolumeClaim', 'team', 'someone-elses')).toBeUndefined();
    const pvcLists = double.requests({ kind: 'PersistentVolumeClaim', verb: 'list' });
    expect(pvcLists.map((r) => new URLSearchParams(r.query).get('labelSelector'))).toEqual([
      `${MANAGED_BY_LABEL}=${MANAGED_BY}`,
    ]);

    double.put(configMap('team', 'new-one'));
    await seen('add ConfigMap team/new-one');
    expect(cache.get('ConfigMap', 'team', 'new-one')).toBeDefined();
  });

  it('watches only the namespaces of WATCH_NAMESPACES when it is set', async () => {
    double.put(aspectManifest('team', 'wren'));
    double.put(aspectManifest('other', 'lark'));
    const cache = await start(['team', 'extra']);
    expect(cache.list('Aspect').map((a) => a.metadata.name)).toEqual(['wren']);
    expect(
      double
        .requests({ kind: 'Aspect', verb: 'list' })
        .map((r) => r.namespace)
        .sort(),
    ).toEqual(['extra', 'team']);
    double.put(aspectManifest('extra', 'robin'));
    double.put(aspectManifest('other', 'finch'));
    await seen('add Aspect extra/robin');
    expect(cache.get('Aspect', 'other', 'finch')).toBeUndefined();
    expect(cache.list('Aspect', 'extra').map((a) => a.metadata.name)).toEqual(['robin']);
  });

  it('is restarted after a watch answered 500, and follows changes again', async () => {
    await start();
    double.faults.add({ method: 'GET', path: /\/configmaps\?/, watch: true, status: 500, times: 2 });
    double.dropWatches('end');
    await waitUntil(() => restarts.filter((k) => k === 'ConfigMap').length >= 2, {
      timeoutMs: 10_000,
      what: 'two restarts of the ConfigMap informer',
    });
    double.put(configMap('team', 'after-500'));
    await seen('add ConfigMap team/after-500');
  });

  it('follows changes after the connection was reset under every watch', async () => {
    await start();
    double.dropWatches('destroy');
    double.put(aspectManifest('team', 'after-reset'));
    double.put(configMap('team', 'after-reset'));
    await seen('add Aspect team/after-reset');
    await seen('add ConfigMap team/after-reset');
  });

  it('lists again after a 410 Gone, seeing what changed while it was not watching', async () => {
    double.put(configMap('team', 'doomed'));
    await start();
    const listsBefore = double.requests({ kind: 'ConfigMap', verb: 'list' }).length;
    double.expireHistory();
    double.faults.add({ method: 'GET', path: /\/configmaps\?/, watch: true, status: 410, times: 1 });
    double.dropWatches('end');
    double.delete({ kind: 'ConfigMap', namespace: 'team', name: 'doomed' });
    double.put(configMap('team', 'born-meanwhile'));
    await seen('add ConfigMap team/born-meanwhile');
    await seen('delete ConfigMap team/doomed');
    expect(double.requests({ kind: 'ConfigMap', verb: 'list' }).length).toBeGreaterThan(listsBefore);
  });

  it('is restarted when its first list fails, and reports synced only once every kind has listed', async () => {
    double.faults.add({ method: 'GET', path: /\/statefulsets\?/, watch: false, status: 500, times: 2 });
    double.put(aspectManifest('team', 'wren'));
    informers = new Informers({ kube, namespaces: [], logger, onChange: () => undefined });
    await informers.start();
    expect(informers.synced()).toBe(false);
    await informers.whenSynced();
    expect(double.requests({ kind: 'StatefulSet', verb: 'list' }).map((r) => r.status)).toEqual([
      500, 500, 200,
    ]);
  });
});

const pick = (object: { apiVersion?: string; kind?: string } | undefined) => ({
  apiVersion: object?.apiVersion,
  kind: object?.kind,
});
