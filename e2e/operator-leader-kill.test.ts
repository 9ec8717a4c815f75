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
  tokensFor,
  useOperatorWorld,
  waitConverged,
  type OperatorProcess,
} from '../testing/operator-e2e.js';
import { aspectManifest } from '../testing/aspect-crd.js';
import type { StoreEvent } from '../testing/kube-double/index.js';

const NS = 'faults';

/** Each kill waits for a process start, a Lease expiry and a convergence. */
const TIMEOUT_MS = 120_000;

describe('fault 12: the leading operator killed mid-reconcile', () => {
  const world = useOperatorWorld('operator_fault12', { operator: false });
  const alive = new Map<string, OperatorProcess>();
  let started = 0;
  const converged: string[] = [];

  const startReplica = async () => {
    const replica = await world.startOperator({ podName: `operator-${started++}`, until: 'started' });
    alive.set(replica.podName, replica);
    await replica.process.waitForLog('"msg":"standby"', 30_000);
    return replica;
  };

  /** The live replica holding the Lease, once there is one; with a ready standby beside it. */
  const leaderAndStandby = async () => {
    while (alive.size < 2) await startReplica();
    const holder = await world.double.waitFor(
      () => {
        const h = world.leaseHolder();
        return h && alive.has(h) ? h : undefined;
      },
      { timeoutMs: 30_000, what: 'a live replica holding the Lease' },
    );
    return alive.get(holder)!;
  };

  /** SIGKILLs `replica` the moment the double stores a change matching `match`. */
  const killOnChange = (replica: OperatorProcess, match: (e: StoreEvent) => boolean) =>
    new Promise<void>((resolve) => {
      const off = world.double.onChange((event) => {
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
    arm: (leader: OperatorProcess) => Promise<void>,
    trigger: () => void | Promise<void>,
  ) => {
    const leader = await leaderAndStandby();
    const killed = arm(leader);
    await trigger();
    await killed;
    await leader.process.exited();
    alive.delete(leader.podName);

    const successor = await world.double.waitFor(
      () => {
        const h = world.leaseHolder();
        return h && h !== leader.podName && alive.has(h) ? h : undefined;
      },
      { timeoutMs: 30_000, what: `a standby to take the Lease from ${leader.podName}` },
    );
    expect(successor).not.toBe(leader.podName);
    const { tokenId, statefulSet } = await waitConverged(world, NS, name);
    expect(ownedCounts(world.double, NS, name)).toEqual({
      PersistentVolumeClaim: 1,
      Secret: 1,
      ConfigMap: 1,
      StatefulSet: 1,
    });
    expect(statefulSet.metadata.annotations?.['nexus.dev/token-id']).toBe(tokenId);
    if (!converged.includes(name)) converged.push(name);
  };

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
        () => void world.double.put(aspectManifest(NS, 'after-finalizer')),
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
          world.double.faults.add({
            method: 'POST',
            path: new RegExp(`/namespaces/${NS}/secrets`),
            status: 500,
            times: 1,
          });
          return world.double
            .waitFor(
              () => {
                const failed = world.double
                  .requests({ kind: 'Secret', verb: 'create', namespace: NS })
                  .some((r) => r.status === 500);
                if (failed) leader.process.child.kill('SIGKILL');
                return failed;
              },
              { timeoutMs: 30_000, what: 'the Secret create to fail' },
            )
            .then(() => undefined);
        },
        () => void world.double.put(aspectManifest(NS, name)),
      );
      // The token the dead leader minted is revoked: the one live token is the successor's.
      const tokens = await tokensFor(world.admin, name);
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
        () => void world.double.put(aspectManifest(NS, name)),
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
        () => void world.double.put(aspectManifest(NS, name)),
      );
      // The token recorded before the kill is kept: nothing needed a second mint.
      const tokens = await tokensFor(world.admin, name);
      expect(tokens.filter((t) => t.name === `operator:${NS}/${name}`)).toHaveLength(1);
    },
    TIMEOUT_MS,
  );

  it(
    'the leader dies mid-rotation, after writing the new token into the Secret',
    async () => {
      const name = 'after-finalizer'; // converged above
      const before = await waitConverged(world, NS, name);
      await killAndConverge(
        name,
        (leader) => killOnChange(leader, (e) => is(e, 'Secret', `${name}-token`, 'MODIFIED')),
        // A revoked token makes the leader rotate: mint, write the Secret, record, revoke the rest.
        () => world.admin.call('DELETE', `/v1/admin/tokens/${before.tokenId}`).then(() => undefined),
      );
    },
    TIMEOUT_MS,
  );

  it(
    'leaves every Aspect converged alone: one live token each, one Lease holder',
    async () => {
      for (const name of converged) await waitConverged(world, NS, name);
      expect(world.double.list({ kind: 'Lease', namespace: LEASE.namespace })).toHaveLength(1);
      expect(alive.has(world.leaseHolder() ?? '')).toBe(true);
    },
    TIMEOUT_MS,
  );
});
