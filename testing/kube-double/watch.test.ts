import { CoreV1Api, makeInformer, type Informer, type V1ConfigMap } from '@kubernetes/client-node';
import { waitUntil } from '../wait.js';
import { kubeConfigFor, startKubeDouble, type KubeDouble, type KubeDoubleOptions } from './index.js';

let double: KubeDouble;
let informer: Informer<V1ConfigMap> | undefined;
afterEach(async () => {
  await informer?.stop();
  informer = undefined;
  await double.stop();
});

interface Seen {
  events: string[];
  errors: unknown[];
}

async function watchConfigMaps(options: KubeDoubleOptions = {}, labelSelector?: string): Promise<Seen> {
  double = await startKubeDouble(options);
  const kc = kubeConfigFor(double);
  const core = kc.makeApiClient(CoreV1Api);
  const seen: Seen = { events: [], errors: [] };
  const path = '/api/v1/namespaces/ns/configmaps';
  informer = makeInformer(
    kc,
    path,
    () => core.listNamespacedConfigMap({ namespace: 'ns', labelSelector }),
    labelSelector,
  );
  informer.on('add', (o) => seen.events.push(`add ${o.metadata?.name} ${o.data?.v ?? ''}`));
  informer.on('update', (o) => seen.events.push(`update ${o.metadata?.name} ${o.data?.v ?? ''}`));
  informer.on('delete', (o) => seen.events.push(`delete ${o.metadata?.name}`));
  informer.on('error', (err) => seen.errors.push(err));
  await informer.start();
  await double.waitFor(() => double.watches.count === 1, { what: 'the informer to watch' });
  return seen;
}

const cm = (name: string, v: string, labels?: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'ns', ...(labels ? { labels } : {}) },
  data: { v },
});

/** The informer's own state changes off the double's events: poll it (testing/wait.ts). */
const clientSees = (check: () => boolean, what: string) => waitUntil(check, { timeoutMs: 10_000, what });

const watchRequests = () => double.requests({ verb: 'watch' });
const lists = () => double.requests({ verb: 'list' }).length;

describe('watches through the real client-node informer', () => {
  it('sees ADDED, MODIFIED and DELETED', async () => {
    const seen = await watchConfigMaps();
    double.put(cm('a', '1'));
    double.update({ kind: 'ConfigMap', namespace: 'ns', name: 'a' }, (o) => (o.data = { v: '2' }));
    double.delete({ kind: 'ConfigMap', namespace: 'ns', name: 'a' });
    double.put({ ...cm('elsewhere', '1'), metadata: { name: 'elsewhere', namespace: 'other' } });
    double.put(cm('z', '1'));
    await clientSees(() => seen.events.length >= 4, 'four events');
    expect(seen.events).toEqual(['add a 1', 'update a 2', 'delete a', 'add z 1']);
  });

  it('a dropped watch is resumed from its resourceVersion, missing nothing', async () => {
    const seen = await watchConfigMaps();
    double.put(cm('a', '1'));
    await clientSees(() => seen.events.length === 1, 'one event');
    double.dropWatches();
    double.put(cm('b', '1'));
    await clientSees(() => seen.events.length === 2, 'the change made while disconnected');
    expect(seen.events).toEqual(['add a 1', 'add b 1']);
    expect(lists()).toBe(1);
    expect(watchRequests()[1]?.query).toMatch(/resourceVersion=1(&|$)/);
  });

  it('re-lists after expireHistory (the re-watch gets ERROR 410 Expired)', async () => {
    const seen = await watchConfigMaps();
    double.put(cm('a', '1'));
    await clientSees(() => seen.events.length === 1, 'one event');
    double.expireHistory();
    double.dropWatches();
    double.put(cm('b', '1'));
    await double.waitFor(() => lists() === 2 && double.watches.count === 1, {
      what: 'a re-list and a new watch',
    });
    await clientSees(() => seen.events.includes('add b 1'), 'b added');
    expect(seen.errors).toEqual([]);
  });

  it('re-lists after an injected 410 on the watch request', async () => {
    const seen = await watchConfigMaps();
    const fault = double.faults.add({ watch: true, status: 410 });
    double.dropWatches();
    await double.waitFor(() => lists() === 2 && double.watches.count === 1, {
      what: 'a re-list and a new watch',
    });
    expect(fault.hits).toBe(1);
    expect(seen.errors).toEqual([]);
  });

  it('a reset connection or a 500 on the watch stops the informer with an error (the operator restarts it)', async () => {
    const seen = await watchConfigMaps();
    double.faults.add({ watch: true, status: 500 });
    double.dropWatches();
    await clientSees(() => seen.errors.length === 1, 'the informer error');
  });

  it('closes watches at the server timeout and the informer re-watches', async () => {
    await watchConfigMaps({ watchTimeoutMs: 200 });
    await double.waitFor(() => watchRequests().length >= 3, { what: 'two re-watches' });
    expect(lists()).toBe(1);
  });

  it('filters by label selector, turning a label change into ADDED / DELETED', async () => {
    const seen = await watchConfigMaps({}, 'team=a');
    double.put(cm('x', '1', { team: 'b' }));
    double.update(
      { kind: 'ConfigMap', namespace: 'ns', name: 'x' },
      (o) => (o.metadata.labels = { team: 'a' }),
    );
    double.update(
      { kind: 'ConfigMap', namespace: 'ns', name: 'x' },
      (o) => (o.metadata.labels = { team: 'c' }),
    );
    await clientSees(() => seen.events.length === 2, 'two events');
    expect(seen.events).toEqual(['add x 1', 'delete x']);
  });
});

describe('the raw watch protocol', () => {
  async function readLines(
    url: string,
    count: number,
    token: string,
  ): Promise<{ type: string; object: { kind: string } }[]> {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (text.split('\n').filter(Boolean).length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    await reader.cancel();
    return text
      .split('\n')
      .filter(Boolean)
      .slice(0, count)
      .map((l) => JSON.parse(l) as { type: string; object: { kind: string } });
  }

  it('sends BOOKMARKs only when allowWatchBookmarks=true is asked (B.72)', async () => {
    double = await startKubeDouble();
    const base = `${double.url}/api/v1/namespaces/ns/configmaps?watch=true&resourceVersion=0`;
    const without = readLines(base, 1, double.token!);
    await double.waitFor(() => double.watches.count === 1);
    double.bookmark();
    double.put(cm('a', '1'));
    expect((await without).map((e) => e.type)).toEqual(['ADDED']);

    const asked = readLines(`${base}&allowWatchBookmarks=true`, 2, double.token!);
    await double.waitFor(() => double.watches.count === 1 && watchRequests().length === 2);
    double.bookmark();
    expect((await asked).map((e) => e.type)).toEqual(['ADDED', 'BOOKMARK']);
  });

  it('a resourceVersion older than the history answers ERROR with a 410 Status', async () => {
    double = await startKubeDouble({ historyLimit: 2 });
    for (const v of ['1', '2', '3', '4']) double.put(cm(`c${v}`, v));
    const [event] = await readLines(
      `${double.url}/api/v1/namespaces/ns/configmaps?watch=true&resourceVersion=1`,
      1,
      double.token!,
    );
    expect(event).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } });
  });

  it('a streaming list (sendInitialEvents=true, client-go WatchList, as helm v4 waits) ends its ADDED events with the initial-events-end BOOKMARK', async () => {
    double = await startKubeDouble();
    double.put(cm('a', '1'));
    double.put(cm('b', '1'));
    const events = await readLines(
      `${double.url}/api/v1/namespaces/ns/configmaps?watch=true&sendInitialEvents=true` +
        '&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true',
      3,
      double.token!,
    );
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'ADDED', 'BOOKMARK']);
    expect(events[2]!.object).toMatchObject({
      metadata: { resourceVersion: '2', annotations: { 'k8s.io/initial-events-end': 'true' } },
    });
  });
});
