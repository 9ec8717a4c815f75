/**
 * QUALITY fault 13 (SPEC section 11, B.63, B.64, B.72): the Kubernetes API answers 410 on watches,
 * drops and resets them, fails lists with 500, and answers writes with 409, 429 (Retry-After) and
 * 500. The `nexus operator` process still converges, backs off (the gaps between one object's
 * failing requests never shrink), keeps its requests per object bounded, and once converged a
 * reconcile of the same state writes nothing. Real broker process, real Postgres, the API double.
 */
import { aspectManifest } from '../testing/aspect-crd.js';
import type { LoggedRequest } from '../testing/kube-double/index.js';
import { tokensFor, useOperatorWorld, waitConverged } from '../testing/operator-e2e.js';
import { waitUntil } from '../testing/wait.js';

const NS = 'faults';
const TIMEOUT_MS = 120_000;

/** Requests about the operator's work (the Lease and Events are not the objects reconciled). */
const reconcileRequests = (log: LoggedRequest[]) =>
  log.filter((r) => r.kind !== 'Lease' && r.kind !== 'Event');
const isWrite = (r: LoggedRequest) => ['create', 'update', 'patch', 'delete'].includes(r.verb);
const objectKey = (r: LoggedRequest) =>
  `${r.kind} ${r.namespace}/${r.name}${r.subresource ? `/${r.subresource}` : ''}`;

/** The gaps between consecutive timestamps. */
const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]!);
/** The work queue's wait after the `n`th consecutive failure (operator/work-queue.ts). */
const backoffMs = (n: number) => 500 * 2 ** (n - 1);

/** The consecutive-failure counts the operator logged with each retry of `aspect` (NS/NAME). */
const retriesLogged = (logs: string, aspect: string): number[] =>
  logs
    .split('\n')
    .filter((line) => line.includes('"reconcile failed; retrying with backoff"'))
    .map((line) => JSON.parse(line) as { aspect?: string; failures?: number })
    .filter((entry) => entry.aspect === aspect)
    .map((entry) => entry.failures ?? 0);

describe('fault 13: the API server fails watches, lists and writes', () => {
  const world = useOperatorWorld('operator_fault13', { timeoutMs: TIMEOUT_MS });

  it(
    'converges through 409, 429 and 500 on writes, backing off, with a bounded number of requests',
    async () => {
      const { double } = world;
      // A create's path names no object, so each Aspect gets its own namespace and its own faults.
      const fault = (ns: string, method: string, path: string, status: 409 | 429 | 500, times: number) =>
        double.faults.add({
          method,
          path: new RegExp(`/namespaces/${ns}/${path}(\\?|$)`),
          status,
          times,
          ...(status === 429 ? { retryAfterS: 1 } : {}),
        });
      const cases = {
        conflicted: [
          fault('conflicted', 'PATCH', 'aspects/conflicted', 409, 1), // the finalizer's compare-and-swap
          fault('conflicted', 'POST', 'persistentvolumeclaims', 409, 1), // taken as a stale cache
          fault('conflicted', 'PATCH', 'aspects/conflicted/status', 500, 1),
        ],
        throttled: [
          fault('throttled', 'POST', 'configmaps', 429, 2),
          fault('throttled', 'PATCH', 'aspects/throttled/status', 429, 1),
        ],
        failing: [fault('failing', 'POST', 'statefulsets', 500, 4)],
      };
      const from = double.requests().length;
      for (const name of Object.keys(cases)) double.put(aspectManifest(name, name));
      await Promise.all(Object.keys(cases).map((name) => waitConverged(world, name, name)));
      const log = reconcileRequests(double.requests().slice(from));

      for (const [name, faults] of Object.entries(cases)) {
        for (const f of faults)
          expect({ name, rule: String(f.rule.path), hits: f.hits }).toEqual({
            name,
            rule: String(f.rule.path),
            hits: f.rule.times,
          });
        // Writes: B.64's budget of 8 plus one retry per injected failure; a hot loop is far past it.
        const writes = log.filter((r) => r.namespace === name && isWrite(r));
        const failures = faults.reduce((n, f) => n + f.hits, 0);
        expect({ name, writes: writes.length <= 8 + failures }).toEqual({ name, writes: true });
        const perObject = new Map<string, number>();
        for (const r of writes) perObject.set(objectKey(r), (perObject.get(objectKey(r)) ?? 0) + 1);
        for (const [key, count] of perObject)
          expect({ key, count: count <= 6 }).toEqual({ key, count: true });
      }

      // Retry-After: the client waited the second the server asked for before sending again.
      const throttled = log.filter(
        (r) => r.namespace === 'throttled' && r.kind === 'ConfigMap' && r.verb === 'create',
      );
      expect(throttled.map((r) => r.status)).toEqual([429, 429, 201]);
      for (const gap of gaps(throttled.map((r) => r.at))) expect(gap).toBeGreaterThanOrEqual(995);

      // Backoff (B.72: non-decreasing retry gaps): the StatefulSet create failed four times. The
      // operator logs each retry with its count of consecutive failures, and the queue waits 500 ms
      // doubled per failure (work-queue.test.ts pins those gaps on a manual clock): counts that only
      // climb are gaps that never shrink. On the wire only lower bounds follow from the code (a busy
      // machine stretches any gap, so comparing two measured gaps could fail): from the second
      // failure on, each attempt waits at least its backoff. The first retry may come sooner: the
      // failure's own status write queues the Aspect again when the watch shows it (B.107).
      const attempts = log
        .filter((r) => r.namespace === 'failing' && r.kind === 'StatefulSet' && r.verb === 'create')
        .map((r) => r.at);
      expect(attempts).toHaveLength(5);
      const retries = retriesLogged(world.operator.process.logs(), 'failing/failing');
      expect(retries.length).toBeGreaterThanOrEqual(4);
      expect(retries).toEqual(retries.map((_, i) => i + 1)); // never reset while it kept failing
      const waited = gaps(attempts).slice(1);
      expect(waited.map((gap, i) => ({ gap, atLeastBackoff: gap >= backoffMs(i + 2) - 5 }))).toEqual(
        waited.map((gap) => ({ gap, atLeastBackoff: true })),
      );
      // One token minted however often the StatefulSet create failed (the Secret already held it).
      expect(await tokensFor(world.admin, 'failing')).toHaveLength(1);
    },
    TIMEOUT_MS,
  );

  it(
    'follows the cluster through 410 Gone, dropped and reset watches and failing lists',
    async () => {
      const { double } = world;
      double.put(aspectManifest(NS, 'written'));
      await waitConverged(world, NS, 'written');
      // Every watch from a resourceVersion handed out so far is now too old (410), the first
      // re-watches are refused with 410 too, the re-lists of two kinds fail, and the connections go.
      double.expireHistory();
      const watchGone = double.faults.add({ watch: true, status: 410, times: 3 });
      const listFails = double.faults.add({
        method: 'GET',
        watch: false,
        path: /\/(statefulsets|persistentvolumeclaims)(\?|$)/,
        status: 500,
        times: 2,
      });
      double.dropWatches('end');
      // While the operator is re-listing: a new Aspect, and a change to one it has converged.
      double.put(aspectManifest(NS, 'relisted'));
      double.update({ kind: 'Aspect', namespace: NS, name: 'written' }, (a) => {
        (a.spec as Record<string, unknown>).suspend = true;
      });
      await waitConverged(world, NS, 'relisted');
      double.dropWatches('destroy');
      await double.waitFor(
        () =>
          (
            double.find({ kind: 'StatefulSet', namespace: NS, name: 'written' })?.spec as {
              replicas?: number;
            }
          )?.replicas === 0,
        { timeoutMs: 30_000, what: 'the suspended Aspect scaled to zero' },
      );
      await waitConverged(world, NS, 'written');
      expect(watchGone.hits).toBe(3);
      expect(listFails.hits).toBe(2);
    },
    TIMEOUT_MS,
  );

  it(
    'writes nothing when it reconciles the same state again',
    async () => {
      const { double } = world;
      for (const name of ['written', 'relisted']) await waitConverged(world, NS, name);
      // Let any status write in flight land before counting.
      const settled = await world.operator.reconciles();
      await waitUntil(async () => (await world.operator.reconciles()) >= settled + 2, {
        timeoutMs: 30_000,
        what: 'two more reconciles',
      });
      const from = double.requests().length;
      const before = await world.operator.reconciles();
      // Metadata changes do not bump generation: the operator reconciles and finds nothing to do.
      for (const name of ['written', 'relisted'])
        double.update({ kind: 'Aspect', namespace: NS, name }, (a) => {
          a.metadata.annotations = { ...a.metadata.annotations, 'example.com/touched': 'yes' };
        });
      await waitUntil(async () => (await world.operator.reconciles()) >= before + 4, {
        timeoutMs: 30_000,
        what: 'the touched Aspects reconciled again',
      });
      const writes = double
        .requests()
        .slice(from)
        .filter((r) => r.kind !== 'Lease' && isWrite(r))
        .map((r) => `${r.method} ${objectKey(r)}`);
      expect(writes).toEqual([]);
    },
    TIMEOUT_MS,
  );
});
