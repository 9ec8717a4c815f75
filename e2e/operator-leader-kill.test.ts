/**
 * QUALITY fault 12 (SPEC section 11, B.25, B.61, B.94): the leading `nexus operator` is SIGKILLed in
 * the middle of a reconcile; the standby takes the Lease and converges with no duplicate PVC,
 * Secret, ConfigMap, StatefulSet or token. Real broker process, real Postgres, real operator
 * processes; the Kubernetes API is the double.
 *
 * The kill lands at a chosen step of the pass, deterministically: the double calls our listener
 * synchronously when it stores the write (before it answers), so the leader dies having made that
 * write but before learning it succeeded. The step "token minted, Secret not written" is made by
 * failing the Secret create with an injected 500 and killing when the double logs it.
 */
import {
  LEASE,
  ownedCounts,
  startOperatorCluster,
  waitConverged,
  type OperatorCluster,
  type OperatorReplica,
} from '../testing/operator-cluster.js';
import { aspectManifest } from '../testing/aspect-crd.js';
import type { StoreEvent } from '../testing/kube-double/index.js';

const NS = 'faults';

/** Each kill waits for a process start, a Lease expiry and a convergence. */
const TIMEOUT_MS = 120_000;

describe('fault 12: the leading operator killed mid-reconcile', () => {
  let cluster: OperatorCluster;
  const alive = new Map<string, OperatorReplica>();
  let started = 0;
  const converged: string[] = [];

  const startReplica = async () => {
    const replica = await cluster.startOperator(`operator-${started++}`);
    alive.set(replica.podName, replica);
    await replica.process.waitForLog('"msg":"standby"', 30_000);
    return replica;
  };

  /** The live replica holding the Lease, once there is one; with a ready standby beside it. */
  const leaderAndStandby = async () => {
    while (alive.size < 2) await startReplica();
    const holder = await cluster.double.waitFor(
      () => {
        const h = cluster.leaseHolder();
        return h && alive.has(h) ? h : undefined;
      },
      { timeoutMs: 30_000, what: 'a live replica holding the Lease' },
    );
    return alive.get(holder)!;
  };

  /** SIGKILLs `replica` the moment the double stores a change matching `match`. */
  const killOnChange = (replica: OperatorReplica, match: (e: StoreEvent) => boolean) =>
    new Promise<void>((resolve) => {
      const off = cluster.double.onChange((event) => {
        if (!match(event)) return;
        replica.process.child.kill('SIGKILL');
        off();
        resolve();
      });
    });

  const is = (e: StoreEvent, kind: string, name: string, type?: string) =>
    e.resource.kind === kind &&
    e.object.metadata.namespace === NS &&
    e.object.metadata.name === name &&
    (type === undefined || e.type === type);

  /** Kills the leader at the point `arm` sets up, then checks the standby converges alone. */
  const killAndConverge = async (
    name: string,
    arm: (leader: OperatorReplica) => Promise<void>,
    trigger: () => void | Promise<void>,
  ) => {
    const leader = await leaderAndStandby();
    const killed = arm(leader);
    await trigger();
    await killed;
    await leader.process.exited();
    alive.delete(leader.podName);

    const successor = await cluster.double.waitFor(
      () => {
        const h = cluster.leaseHolder();
        return h && h !== leader.podName && alive.has(h) ? h : undefined;
      },
      { timeoutMs: 30_000, what: `a standby to take the Lease from ${leader.podName}` },
    );
    expect(successor).not.toBe(leader.podName);
    const { tokenId, statefulSet } = await waitConverged(cluster, NS, name);
    expect(ownedCounts(cluster.double, NS, name)).toEqual({
      PersistentVolumeClaim: 1,
      Secret: 1,
      ConfigMap: 1,
      StatefulSet: 1,
    });
    expect(statefulSet.metadata.annotations?.['nexus.dev/token-id']).toBe(tokenId);
    if (!converged.includes(name)) converged.push(name);
  };

  beforeAll(async () => {
    cluster = await startOperatorCluster('operator_fault12');
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  afterEach(() => {
    if (process.env.DEBUG_OPERATOR)
      for (const r of alive.values()) process.stderr.write(`--- ${r.podName}\n${r.process.logs()}\n`);
  });

  it(
    'the leader dies right after adding the finalizer',
    async () => {
      await killAndConverge(
        'after-finalizer',
        (leader) =>
          killOnChange(
            leader,
            (e) =>
              is(e, 'Aspect', 'after-finalizer', 'MODIFIED') &&
              (e.object.metadata.finalizers ?? []).includes('nexus.dev/finalizer'),
          ),
        () => void cluster.double.put(aspectManifest(NS, 'after-finalizer')),
      );
    },
    TIMEOUT_MS,
  );

  it(
    'the leader dies after minting the token, before the Secret holds it',
    async () => {
      const name = 'after-mint';
      await killAndConverge(
        name,
        (leader) => {
          cluster.double.faults.add({
            method: 'POST',
            path: new RegExp(`/namespaces/${NS}/secrets`),
            status: 500,
            times: 1,
          });
          return cluster.double
            .waitFor(
              () => {
                const failed = cluster.double
                  .requests({ kind: 'Secret', verb: 'create', namespace: NS })
                  .some((r) => r.status === 500);
                if (failed) leader.process.child.kill('SIGKILL');
                return failed;
              },
              { timeoutMs: 30_000, what: 'the Secret create to fail' },
            )
            .then(() => undefined);
        },
        () => void cluster.double.put(aspectManifest(NS, name)),
      );
      // The token the dead leader minted is revoked: the one live token is the successor's.
      const tokens = await cluster.tokens(name);
      expect(tokens.length).toBeGreaterThanOrEqual(2);
    },
    TIMEOUT_MS,
  );

  it(
    'the leader dies after writing the Secret, before the StatefulSet records the token',
    async () => {
      const name = 'after-secret';
      await killAndConverge(
        name,
        (leader) => killOnChange(leader, (e) => is(e, 'Secret', `${name}-token`, 'ADDED')),
        () => void cluster.double.put(aspectManifest(NS, name)),
      );
    },
    TIMEOUT_MS,
  );

  it(
    'the leader dies after creating the StatefulSet, before writing the status',
    async () => {
      const name = 'after-statefulset';
      await killAndConverge(
        name,
        (leader) => killOnChange(leader, (e) => is(e, 'StatefulSet', name, 'ADDED')),
        () => void cluster.double.put(aspectManifest(NS, name)),
      );
      // The token recorded before the kill is kept: nothing needed a second mint.
      const tokens = await cluster.tokens(name);
      expect(tokens.filter((t) => t.name === `operator:${NS}/${name}`)).toHaveLength(1);
    },
    TIMEOUT_MS,
  );

  it(
    'the leader dies mid-rotation, after writing the new token into the Secret',
    async () => {
      const name = 'after-finalizer'; // converged above
      const before = await waitConverged(cluster, NS, name);
      await killAndConverge(
        name,
        (leader) => killOnChange(leader, (e) => is(e, 'Secret', `${name}-token`, 'MODIFIED')),
        // A revoked token makes the leader rotate: mint, write the Secret, record, revoke the rest.
        () => cluster.admin.call('DELETE', `/v1/admin/tokens/${before.tokenId}`).then(() => undefined),
      );
    },
    TIMEOUT_MS,
  );

  it(
    'leaves every Aspect converged alone: one live token each, one Lease holder',
    async () => {
      for (const name of converged) await waitConverged(cluster, NS, name);
      expect(cluster.double.list({ kind: 'Lease', namespace: LEASE.namespace })).toHaveLength(1);
      expect(alive.has(cluster.leaseHolder() ?? '')).toBe(true);
    },
    TIMEOUT_MS,
  );
});
