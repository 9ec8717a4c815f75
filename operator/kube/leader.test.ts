/**
 * Leader election on a Lease in the Kubernetes API double: two electors, one Lease. Lease
 * durations are short (1 s) so a takeover after expiry happens within the test; nothing asserts
 * how long anything took.
 */
import { createLogger } from '../../platform/index.js';
import { kubeConfigFor, startKubeDouble, type KubeDouble } from '../../testing/kube-double/index.js';
import { waitUntil } from '../../testing/wait.js';
import { KubeClient } from './client.js';
import { LEASE_NAME, LeaderElector, leaseClientOptions, microTime } from './leader.js';

const logger = createLogger({ name: 'leader-test', level: 'silent' });

interface Candidate {
  elector: LeaderElector;
  kube: KubeClient;
  log: string[];
}

describe('leader election on a coordination.k8s.io Lease', () => {
  let double: KubeDouble;
  const candidates: Candidate[] = [];
  /** Every candidate's starts and stops, in the order they happened. */
  const events: string[] = [];

  beforeEach(async () => {
    double = await startKubeDouble();
  });
  afterEach(async () => {
    await Promise.all(candidates.splice(0).map((c) => c.elector.stop()));
    await double.stop();
    events.length = 0;
  });

  const candidate = (identity: string, leaseDurationS = 1): Candidate => {
    const kube = new KubeClient({ kubeConfig: kubeConfigFor(double), ...leaseClientOptions(leaseDurationS) });
    const log: string[] = [];
    const note = (what: string) => {
      log.push(what);
      events.push(`${identity} ${what}`);
    };
    const elector = new LeaderElector({
      kube,
      namespace: 'nexus-system',
      identity,
      leaseDurationS,
      logger,
      onStartedLeading: () => note('started'),
      onStoppedLeading: () => note('stopped'),
    });
    const c = { elector, kube, log };
    candidates.push(c);
    return c;
  };
  const lease = () => double.find({ kind: 'Lease', namespace: 'nexus-system', name: LEASE_NAME });
  const holder = () => (lease()?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
  const until = (check: () => boolean, what: string) => waitUntil(check, { timeoutMs: 15_000, what });

  it('lets one of two lead; the other takes over once the leader stops renewing', async () => {
    const a = candidate('operator-a');
    a.elector.start();
    await until(() => a.elector.leading, 'a to lead');
    const b = candidate('operator-b');
    b.elector.start();
    await until(
      () => double.requests({ kind: 'Lease', method: 'GET' }).length >= 4,
      'b to look at the Lease',
    );
    expect(b.elector.leading).toBe(false);
    expect(holder()).toBe('operator-a');
    expect(lease()?.spec).toMatchObject({ leaseDurationSeconds: 1, leaseTransitions: 0 });

    // a's connection to the API server dies (a crashed pod): it can neither renew nor release.
    a.kube.stop();
    await until(() => b.elector.leading, 'b to take the expired Lease');
    expect(holder()).toBe('operator-b');
    expect(lease()?.spec).toMatchObject({ leaseTransitions: 1 });
    await until(() => a.log.includes('stopped'), 'a to notice it lost the Lease');
    expect(a.elector.leading).toBe(false);
    expect(b.log).toEqual(['started']);
  });

  it('releases the Lease on a clean stop, so a standby takes it without waiting for expiry', async () => {
    const a = candidate('operator-a', 2);
    a.elector.start();
    await until(() => a.elector.leading, 'a to lead');
    const b = candidate('operator-b', 2);
    const gets = double.requests({ kind: 'Lease', method: 'GET' }).length;
    b.elector.start();
    await until(() => double.requests({ kind: 'Lease', method: 'GET' }).length > gets, 'b to look once');
    await a.elector.stop();
    expect(holder()).toBe('');
    await until(() => b.elector.leading, 'b to take the released Lease');
    expect(holder()).toBe('operator-b');
    // Taken from nobody: had b waited for a's Lease to expire, it would count a transition from a.
    expect(lease()?.spec).toMatchObject({ leaseTransitions: 0 });
    expect(a.log).toEqual(['started']); // a stop is not a loss
  });

  it('stops leading by its own deadline while a renewal hangs, before a standby takes over', async () => {
    const a = candidate('operator-a', 3);
    a.elector.start();
    await until(() => a.elector.leading, 'a to lead');
    const b = candidate('operator-b', 3);
    const gets = double.requests({ kind: 'Lease', method: 'GET' }).length;
    b.elector.start();
    await until(() => double.requests({ kind: 'Lease', method: 'GET' }).length > gets, 'b to look once');
    // The API server holds every renewal a sends (a stuck connection); b's requests are served.
    const held = double.faults.add({
      method: 'PUT',
      path: /\/leases\//,
      body: /"holderIdentity":"operator-a"/,
      hang: true,
      times: 1_000,
    });
    await until(() => held.hits > 0, 'a renewal to hang');
    await until(() => b.elector.leading, 'b to take the Lease a no longer renews');
    // Never two leaders: a gave up before b took over.
    expect(events).toEqual(['operator-a started', 'operator-a stopped', 'operator-b started']);
    expect(holder()).toBe('operator-b');
  });

  it('stops leading at once when a renewal is refused 409 (another replica wrote the Lease)', async () => {
    const a = candidate('operator-a');
    a.elector.start();
    await until(() => a.elector.leading, 'a to lead');
    double.faults.add({ method: 'PUT', path: /\/leases\//, status: 409 });
    await until(() => a.log.includes('stopped'), 'a to stop leading after the 409');
    // It competes again and, the Lease being still its own, leads again.
    await until(() => a.log.length === 3, 'a to lead again');
    expect(a.log).toEqual(['started', 'stopped', 'started']);
  });

  it('does not take a Lease that another holder keeps renewing', async () => {
    const now = new Date();
    double.put({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: LEASE_NAME, namespace: 'nexus-system' },
      spec: { holderIdentity: 'elsewhere', leaseDurationSeconds: 1, renewTime: microTime(now) },
    });
    const b = candidate('operator-b');
    b.elector.start();
    // The other holder renews every time b looks, for a while.
    for (let round = 0; round < 4; round++) {
      const seen = double.requests({ kind: 'Lease', method: 'GET' }).length;
      await until(() => double.requests({ kind: 'Lease', method: 'GET' }).length > seen, 'b to look again');
      double.update({ kind: 'Lease', namespace: 'nexus-system', name: LEASE_NAME }, (l) => {
        (l.spec as { renewTime: string }).renewTime = microTime(new Date(Date.now() + round + 1));
      });
    }
    expect(b.elector.leading).toBe(false);
    expect(holder()).toBe('elsewhere');
    expect(microTime(new Date('2024-01-02T03:04:05.678Z'))).toBe('2024-01-02T03:04:05.678000Z');
  });
});
