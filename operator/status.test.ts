import {
  CONDITION_REASONS,
  CONDITION_TYPES,
  AspectStatus,
  type AspectCondition,
} from '../protocol/aspect-resource.js';
import { computeStatus, statusUpdate, type StatusFacts } from './status.js';
import { brokerView, pod } from './test/fixtures.js';
import type { KubeObject } from './types.js';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:01:00.000Z';
const statefulSet: KubeObject = { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'wren' } };
const boundPvc: KubeObject = {
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name: 'wren-home' },
  status: { phase: 'Bound' },
};
const readyPod = pod({ phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] });

/** A converged Aspect: bound home, token written, pod ready, registered live. */
function facts(overrides: Partial<StatusFacts> = {}): StatusFacts {
  return {
    name: 'wren',
    generation: 3,
    suspended: false,
    pvc: boundPvc,
    statefulSet,
    pod: readyPod,
    token: { kind: 'ready', id: '17' },
    broker: brokerView({ rosterStatus: 'live', lastHeartbeat: '2026-01-01T00:00:30Z' }),
    ...overrides,
  };
}

const byType = (status: AspectStatus) =>
  Object.fromEntries((status.conditions ?? []).map((c) => [c.type, c])) as Record<string, AspectCondition>;
const reason = (f: StatusFacts, type: string) => byType(computeStatus(f, undefined, T0))[type];

describe('status (B.63, B.106)', () => {
  it('is Running and Ready when everything is, with every condition explained', () => {
    const status = computeStatus(facts(), undefined, T0);
    expect(AspectStatus.parse(status)).toEqual(status);
    expect(status).toMatchObject({
      phase: 'Running',
      observedGeneration: 3,
      registered: true,
      lastHeartbeat: '2026-01-01T00:00:30Z',
    });
    expect(status.conditions?.map((c) => c.type)).toEqual([...CONDITION_TYPES]);
    for (const c of status.conditions ?? []) {
      expect(c).toMatchObject({ status: 'True', observedGeneration: 3, lastTransitionTime: T0 });
      expect(CONDITION_REASONS).toContain(c.reason);
      expect(c.message.length).toBeGreaterThan(0);
    }
  });

  it('uses only reasons of the closed list on every path', () => {
    const paths: Partial<StatusFacts>[] = [
      {
        pvc: undefined,
        statefulSet: undefined,
        pod: undefined,
        token: { kind: 'pending', message: 'no token' },
      },
      { invalidSpec: 'spec.provider.kind: bad' },
      { deleting: 'waiting for the broker' },
      { suspended: true },
      { configMapMissing: 'spec.identity.agent: ConfigMap x does not exist' },
      {
        broker: undefined,
        brokerError: 'connection refused',
        token: { kind: 'unknown', message: 'broker down' },
      },
      { token: { kind: 'nameInUse', holder: 'operator:other/wren' } },
      { pod: pod({ phase: 'Pending' }) },
      {
        pod: pod({
          phase: 'Running',
          conditions: [
            { type: 'Ready', status: 'False', message: 'containers with unready status: [runtime]' },
          ],
        }),
      },
      { broker: brokerView({ rosterStatus: 'down' }) },
      { broker: brokerView({ rosterStatus: 'stale' }) },
      { broker: brokerView() },
    ];
    for (const path of paths) {
      const status = computeStatus(facts(path), undefined, T0);
      expect(AspectStatus.safeParse(status).success).toBe(true);
      for (const c of status.conditions ?? []) {
        expect(CONDITION_REASONS).toContain(c.reason);
        expect(c.message).not.toBe('');
      }
    }
  });

  it('is Failed only for a spec error, with the message', () => {
    const status = computeStatus(
      facts({ invalidSpec: 'spec.contextMode: expected one of global, thread, stateless' }),
      undefined,
      T0,
    );
    expect(status.phase).toBe('Failed');
    expect(byType(status).Ready).toMatchObject({
      status: 'False',
      reason: 'InvalidSpec',
      message: 'spec.contextMode: expected one of global, thread, stateless',
    });
  });

  it('keeps the phase while the broker cannot be asked, saying so', () => {
    const before = computeStatus(facts(), undefined, T0);
    const status = computeStatus(
      facts({
        broker: undefined,
        brokerError: 'connect ECONNREFUSED',
        token: { kind: 'unknown', message: 'broker down' },
      }),
      before,
      T1,
    );
    expect(status.phase).toBe('Running');
    expect(status.registered).toBe(true);
    expect(byType(status).Registered).toMatchObject({
      status: 'Unknown',
      reason: 'BrokerUnavailable',
      message: 'connect ECONNREFUSED',
    });
    expect(byType(status).Ready).toMatchObject({ status: 'Unknown', reason: 'BrokerUnavailable' });
    expect(computeStatus(facts({ broker: undefined }), undefined, T0).phase).toBe('Pending');
  });

  it('keeps the phase on a missing ConfigMap, and names it in Ready', () => {
    const before = computeStatus(facts(), undefined, T0);
    const status = computeStatus(
      facts({ configMapMissing: 'spec.identity.soul: ConfigMap souls does not exist' }),
      before,
      T1,
    );
    expect(byType(status).Ready).toMatchObject({
      status: 'False',
      reason: 'ConfigMapMissing',
      message: 'spec.identity.soul: ConfigMap souls does not exist',
    });
    expect(status.phase).toBe('Running');
  });

  it('is Suspended while suspended', () => {
    const status = computeStatus(facts({ suspended: true, pod: undefined }), undefined, T0);
    expect(status.phase).toBe('Suspended');
    expect(byType(status).PodReady).toMatchObject({ status: 'False', reason: 'Suspended' });
    expect(byType(status).Ready).toMatchObject({ status: 'False', reason: 'Suspended' });
  });

  it('is Registered while the roster says live or stale, not down or absent', () => {
    expect(reason(facts(), 'Registered')).toMatchObject({ status: 'True', reason: 'Live' });
    expect(reason(facts({ broker: brokerView({ rosterStatus: 'stale' }) }), 'Registered')).toMatchObject({
      status: 'True',
      reason: 'Stale',
    });
    expect(reason(facts({ broker: brokerView({ rosterStatus: 'down' }) }), 'Registered')).toMatchObject({
      status: 'False',
      reason: 'Down',
    });
    expect(reason(facts({ broker: brokerView() }), 'Registered')).toMatchObject({
      status: 'False',
      reason: 'NotRegistered',
    });
  });

  it('says which token was written into the Secret, not that the Secret holds it (it is never read, B.61)', () => {
    expect(reason(facts(), 'TokenReady')).toMatchObject({
      status: 'True',
      reason: 'TokenWritten',
      message: 'token 17 was written into Secret wren-token',
    });
  });

  it('says NameInUse when another namespace holds the name (B.68)', () => {
    const f = facts({ token: { kind: 'nameInUse', holder: 'operator:other/wren' } });
    expect(reason(f, 'Registered')).toMatchObject({ status: 'False', reason: 'NameInUse' });
    expect(reason(f, 'TokenReady')).toMatchObject({ status: 'False', reason: 'NameInUse' });
    expect(reason(f, 'Registered')?.message).toContain('operator:other/wren');
    expect(computeStatus(f, undefined, T0).registered).toBe(false);
  });

  it('reports the home as pending until its claim is bound', () => {
    expect(reason(facts({ pvc: undefined }), 'HomeReady')).toMatchObject({
      status: 'False',
      reason: 'ClaimPending',
    });
    expect(reason(facts({ pvc: { ...boundPvc, status: { phase: 'Pending' } } }), 'HomeReady')).toMatchObject({
      status: 'False',
      reason: 'ClaimPending',
    });
    expect(reason(facts(), 'HomeReady')).toMatchObject({ status: 'True', reason: 'ClaimBound' });
  });
});

describe('PodReady copies the pod’s own reason (B.106)', () => {
  it('from the scheduler: Unschedulable, with its message', () => {
    const message = '0/3 nodes are available: 3 node(s) didn’t match Pod’s node affinity/selector.';
    const f = facts({
      pod: pod({
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message }],
      }),
    });
    expect(reason(f, 'PodReady')).toMatchObject({ status: 'False', reason: 'Unschedulable', message });
    expect(reason(f, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'Unschedulable',
      message: `PodReady: ${message}`,
    });
  });

  it.each(['ImagePullBackOff', 'ErrImagePull', 'CrashLoopBackOff', 'CreateContainerConfigError'])(
    'from the container: %s',
    (waiting) => {
      const message = `detail of ${waiting}`;
      const f = facts({
        pod: pod({
          phase: 'Pending',
          containerStatuses: [{ name: 'runtime', state: { waiting: { reason: waiting, message } } }],
        }),
      });
      expect(reason(f, 'PodReady')).toMatchObject({ status: 'False', reason: waiting, message });
    },
  );

  it('otherwise pending, not ready, or absent', () => {
    expect(
      reason(
        facts({
          pod: pod({
            phase: 'Pending',
            containerStatuses: [{ state: { waiting: { reason: 'ContainerCreating' } } }],
          }),
        }),
        'PodReady',
      ),
    ).toMatchObject({
      reason: 'PodPending',
      message: 'pod wren-0 is Pending (ContainerCreating)',
    });
    expect(
      reason(
        facts({ pod: pod({ phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] }) }),
        'PodReady',
      ),
    ).toMatchObject({ reason: 'ContainersNotReady' });
    expect(reason(facts({ pod: undefined }), 'PodReady')).toMatchObject({ status: 'False', reason: 'NoPod' });
    expect(reason(facts({ statefulSet: undefined, pod: undefined }), 'PodReady')).toMatchObject({
      status: 'False',
      reason: 'NoPod',
    });
  });
});

describe('statusUpdate', () => {
  it('writes nothing when nothing but the heartbeat changed (B.63)', () => {
    const before = computeStatus(facts(), undefined, T0);
    const later = facts({
      broker: brokerView({ rosterStatus: 'live', lastHeartbeat: '2026-01-01T00:05:00Z' }),
    });
    expect(statusUpdate(later, before, T1)).toBeNull();
  });

  it('carries the latest heartbeat along with another change', () => {
    const before = computeStatus(facts(), undefined, T0);
    const change = statusUpdate(
      facts({
        generation: 4,
        broker: brokerView({ rosterStatus: 'live', lastHeartbeat: '2026-01-01T00:05:00Z' }),
      }),
      before,
      T1,
    );
    expect(change?.status).toMatchObject({ observedGeneration: 4, lastHeartbeat: '2026-01-01T00:05:00Z' });
  });

  it('keeps lastTransitionTime while a condition’s status stays, moves it when it changes', () => {
    const before = computeStatus(facts({ pod: pod({ phase: 'Pending' }) }), undefined, T0);
    const crashing = facts({
      pod: pod({
        phase: 'Running',
        containerStatuses: [{ name: 'runtime', state: { waiting: { reason: 'CrashLoopBackOff' } } }],
      }),
    });
    const change = statusUpdate(crashing, before, T1)!;
    expect(byType(change.status).PodReady).toMatchObject({
      reason: 'CrashLoopBackOff',
      lastTransitionTime: T0,
    });
    const ready = statusUpdate(facts(), change.status, T1)!;
    expect(byType(ready.status).PodReady).toMatchObject({ status: 'True', lastTransitionTime: T1 });
  });

  it('ignores key order in what the server returns', () => {
    const before = computeStatus(facts(), undefined, T0);
    const reordered = JSON.parse(JSON.stringify(before, Object.keys(before).reverse())) as AspectStatus;
    const shuffled = {
      ...reordered,
      conditions: before.conditions?.map(
        (c) => Object.fromEntries(Object.entries(c).reverse()) as AspectCondition,
      ),
    };
    expect(statusUpdate(facts(), shuffled, T1)).toBeNull();
  });

  it('writes a first status, and sends null for a field that went', () => {
    expect(statusUpdate(facts(), undefined, T0)?.patch).toMatchObject({ phase: 'Running' });
    const before: AspectStatus = { ...computeStatus(facts(), undefined, T0) };
    const withoutHeartbeat = facts({ broker: brokerView({ rosterStatus: 'down' }) });
    const old = { ...before, lastHeartbeat: undefined };
    delete old.lastHeartbeat;
    const change = statusUpdate(withoutHeartbeat, { ...old, extra: 1 } as AspectStatus, T1);
    expect(change?.patch).toMatchObject({ extra: null, registered: false });
  });
});
