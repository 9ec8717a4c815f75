/**
 * WriteExpectations: a pass is deferred while the informer cache still shows an object as it was
 * before the operator's own last write, and runs once the cache shows anything else (resource
 * versions are never ordered), or once the expectation has waited its TTL.
 */
import { ExpectingWriter, WriteExpectations } from './expectations.js';
import type { WatchedKind } from './kube/informers.js';
import type { KubeObject, KubeWriter } from './types.js';

function harness() {
  const cache = new Map<string, KubeObject>();
  let version = 10;
  let now = 0;
  const object = (kind: string, name: string, rv: string): KubeObject => ({
    apiVersion: 'v1',
    kind,
    metadata: { name, namespace: 'team', resourceVersion: rv },
  });
  const server = {
    async create(o: KubeObject) {
      return object(o.kind, o.metadata.name, String(++version));
    },
    async mergePatch(ref: { kind: string; name: string }) {
      return object(ref.kind, ref.name, String(++version));
    },
    async patchStatus(ref: { kind: string; name: string }) {
      return object(ref.kind, ref.name, String(++version));
    },
  } as Partial<KubeWriter> as KubeWriter;
  const expectations = new WriteExpectations(
    {
      get: <T extends KubeObject>(kind: WatchedKind, _ns: string, name: string) =>
        cache.get(`${kind}/${name}`) as T | undefined,
    },
    1000,
    () => now,
  );
  const writer = new ExpectingWriter(server, expectations);
  const show = (o: KubeObject) => cache.set(`${o.kind}/${o.metadata.name}`, o);
  const behind = () =>
    expectations.behind('team', [
      ['Aspect', 'wren'],
      ['StatefulSet', 'wren'],
    ]);
  return { writer, expectations, object, show, behind, tick: (ms: number) => (now += ms) };
}

const ref = (kind: string) => ({ apiVersion: 'v1', kind, namespace: 'team', name: 'wren' });

describe('WriteExpectations', () => {
  it('defers until the cache shows the created object', async () => {
    const h = harness();
    const created = await h.writer.create(h.object('StatefulSet', 'wren', ''));
    expect(h.behind()).toBe(true);
    h.show(created);
    expect(h.behind()).toBe(false);
    expect(h.expectations.size).toBe(0);
  });

  it('defers after two writes in a pass until the cache moves past both', async () => {
    const h = harness();
    h.show(h.object('Aspect', 'wren', '5'));
    const finalizer = await h.writer.mergePatch(ref('Aspect'), {});
    const status = await h.writer.patchStatus(ref('Aspect'), {});
    h.show(finalizer);
    expect(h.behind()).toBe(true); // shows our first write, not the second
    h.show(status);
    expect(h.behind()).toBe(false);
  });

  it('runs when the cache shows a version it never saw from us (someone wrote after us, or a re-list)', async () => {
    const h = harness();
    h.show(h.object('Aspect', 'wren', '5'));
    await h.writer.mergePatch(ref('Aspect'), {});
    h.show(h.object('Aspect', 'wren', '99'));
    expect(h.behind()).toBe(false);
  });

  it('gives up waiting after its TTL, and expects nothing of writes to unwatched kinds', async () => {
    const h = harness();
    await h.writer.create(h.object('StatefulSet', 'wren', ''));
    await h.writer.create(h.object('Secret', 'wren', ''));
    expect(h.expectations.size).toBe(1);
    h.tick(1001);
    expect(h.behind()).toBe(false);
  });
});
