/**
 * Issue 11, test 3 (second half) and test 5: what gets past the CRD is still refused, in status
 * and Events, without touching owned objects; a pod that cannot be scheduled or pull its image says
 * so in `PodReady`. `nexus operator` runs as a real process against a real broker process on real
 * Postgres and the Kubernetes API double.
 *
 * The bad specs are put straight into the double's store (`double.put`): the double checks no CEL
 * rule, and `put` skips even its schema check, which is how a spec the CRD would refuse (or one no
 * CRD rule can see: a referenced ConfigMap's script, a mount over the operator's own) reaches the
 * operator in a cluster whose CRD is older or lacks CEL.
 *
 * Stand-ins: the double's StatefulSet controller makes the pods `NAME-0`; the test plays the
 * scheduler and the kubelet with `markPodUnschedulable` and `markPodWaiting`; a `double.validate`
 * hook plays the API server refusing a StatefulSet (422).
 */
import { aspectManifest } from '../testing/aspect-crd.js';
import { waitUntil } from '../testing/index.js';
import {
  conditionOf,
  eventsAbout,
  recordPodSpecs,
  rosterReports,
  statusOf,
  tokensFor,
  useOperatorWorld,
  type OperatorProcess,
} from '../testing/operator-e2e.js';

const NS = 'team';
const FRAMES = 'nexus-system';
const WAIT = { timeoutMs: 40_000 };
const OWNED = (name: string): [string, string][] => [
  ['PersistentVolumeClaim', `${name}-home`],
  ['Secret', `${name}-token`],
  ['ConfigMap', `${name}-config`],
  ['StatefulSet', name],
];

describe('nexus operator (a process) with specs the CRD did not stop, and pods that cannot run', () => {
  const world = useOperatorWorld('operator_invalid', { controllers: ['statefulSets'], operator: false });
  let operator: OperatorProcess;
  let podSpecs: ReturnType<typeof recordPodSpecs>;

  const find = (kind: string, name: string, namespace = NS) => world.double.find({ kind, namespace, name });
  const aspect = (name: string, namespace = NS) => find('Aspect', name, namespace);
  /** Writes of any kind to the objects `name` would own: none may happen for an invalid spec. */
  const ownedWrites = (name: string) =>
    OWNED(name).reduce(
      (sum, [kind, object]) => sum + world.double.writes({ kind, namespace: NS, name: object }),
      0,
    );
  const failedWith = (name: string, namespace = NS) =>
    world.double.waitFor(
      () => {
        const a = aspect(name, namespace);
        const ready = conditionOf(a, 'Ready');
        return statusOf(a).phase === 'Failed' && ready?.reason === 'InvalidSpec' ? a : undefined;
      },
      { ...WAIT, what: `${name} Failed with InvalidSpec` },
    );
  const invalidSpecEvent = (name: string) =>
    world.double.waitFor(
      () =>
        eventsAbout(world.double, NS, name).find((e) => e.type === 'Warning' && e.reason === 'InvalidSpec'),
      { ...WAIT, what: `a Warning InvalidSpec Event about ${name}` },
    );
  const setSpec = (name: string, change: (spec: Record<string, unknown>) => void) =>
    world.double.update({ kind: 'Aspect', namespace: NS, name }, (a) =>
      change(a.spec as Record<string, unknown>),
    );

  beforeAll(async () => {
    // swift's script, there before the operator lists ConfigMaps: put just before swift, the
    // operator's ConfigMap watch may bring it after the Aspect's, and swift then waits for a missing
    // ConfigMap (transient, B.107), writing its home meanwhile, instead of being refused.
    world.double.put({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'swift-script', namespace: NS },
      data: { 'script.json': '{"turns": "not a list"}' },
    });
    podSpecs = recordPodSpecs(world.double);
    world.defer(podSpecs.stop);
    // FRAME_NAMESPACES is left unset: frames are allowed only where the operator runs (B.94).
    operator = await world.startOperator({ env: { RESYNC_S: '2' } });
  });

  it('reports a spec the runtime would refuse as Failed/InvalidSpec naming the field, writes nothing it would own, and recovers once fixed', async () => {
    const { double, admin } = world;
    const cases = [
      {
        // The CRD's CEL rule says exactly one source; nothing else in its schema does.
        name: 'owl',
        spec: {
          identity: { agent: { value: 'x', configMapKeyRef: { name: 'owl-identity', key: 'AGENT.md' } } },
        },
        field: 'spec.identity.agent',
        fix: (spec: Record<string, unknown>) => (spec.identity = { agent: { value: '# Owl' } }),
      },
      {
        // No CRD rule reads a ConfigMap: the runtime's script check is the operator's (B.96).
        name: 'swift',
        spec: { script: { configMapKeyRef: { name: 'swift-script', key: 'script.json' } } },
        field: 'spec.script',
        fix: (spec: Record<string, unknown>) => delete spec.script,
      },
      {
        // A mount over the operator's own /nexus/config passes the CRD (it guards only the home).
        name: 'wren',
        spec: {
          pod: {
            volumeMounts: [{ name: 'x', mountPath: '/nexus/config' }],
            volumes: [{ name: 'x', emptyDir: {} }],
          },
        },
        field: 'spec.pod.volumeMounts[0].mountPath',
        fix: (spec: Record<string, unknown>) => delete spec.pod,
      },
    ];
    for (const c of cases) double.put(aspectManifest(NS, c.name, c.spec));
    for (const c of cases) {
      const failed = await failedWith(c.name);
      const ready = conditionOf(failed, 'Ready');
      expect({ name: c.name, names: ready?.message.startsWith(c.field) }).toEqual({
        name: c.name,
        names: true,
      });
      expect(statusOf(failed).observedGeneration).toBe(failed.metadata.generation);
      const event = await invalidSpecEvent(c.name);
      expect(String(event.message)).toContain(c.field);
    }
    for (const c of cases) {
      expect({ name: c.name, writes: ownedWrites(c.name) }).toEqual({ name: c.name, writes: 0 });
      expect({ name: c.name, tokens: await tokensFor(admin, c.name) }).toEqual({ name: c.name, tokens: [] });
    }

    for (const c of cases) setSpec(c.name, c.fix);
    for (const c of cases) {
      for (const [kind, object] of OWNED(c.name))
        await double.waitFor(() => find(kind, object), { ...WAIT, what: `${kind} ${object}` });
      const recovered = await double.waitFor(
        () => {
          const a = aspect(c.name);
          return statusOf(a).phase === 'Pending' && statusOf(a).observedGeneration === a?.metadata.generation
            ? a
            : undefined;
        },
        { ...WAIT, what: `${c.name} Pending at its fixed generation` },
      );
      expect(conditionOf(recovered, 'Ready')?.reason).not.toBe('InvalidSpec');
    }
  });

  it('refuses a frame outside the frame namespaces, and runs it inside them (B.67, B.94)', async () => {
    const { double } = world;
    double.put(aspectManifest(NS, 'rook', { role: 'frame' }));
    const failed = await failedWith('rook');
    expect(conditionOf(failed, 'Ready')?.message).toMatch(
      /^spec\.role: frame is allowed only in the frame namespaces \(nexus-system\)/,
    );
    await invalidSpecEvent('rook');
    expect(ownedWrites('rook')).toBe(0);

    double.put(aspectManifest(FRAMES, 'frame', { role: 'frame' }));
    await double.waitFor(() => find('StatefulSet', 'frame', FRAMES), {
      ...WAIT,
      what: 'the frame StatefulSet',
    });
    expect(statusOf(aspect('frame', FRAMES)).phase).not.toBe('Failed');
  });

  it('writes nothing across resyncs for a Failed Aspect and for Pending ones (B.63)', async () => {
    const { double } = world;
    // Converged now: rook Failed, owl, swift and wren Pending with their pods never scheduled.
    await double.waitFor(
      () => ['owl', 'swift', 'wren'].every((n) => statusOf(aspect(n)).phase === 'Pending'),
      {
        ...WAIT,
        what: 'the fixed Aspects Pending',
      },
    );
    const before = double.writes({ namespace: NS });
    const [reconciled, reports] = [await operator.reconciles(), await rosterReports(world.admin)];
    // RESYNC_S=2 queues every Aspect again (Pending ones also requeue themselves every 2 s): two
    // more resync reports and as many reconciles as Aspects mean each was looked at again.
    await waitUntil(
      async () =>
        (await rosterReports(world.admin)) >= reports + 2 && (await operator.reconciles()) >= reconciled + 6,
      { ...WAIT, what: 'a resync and a reconcile of every Aspect' },
    );
    expect(double.writes({ namespace: NS })).toBe(before);
  });

  it('reports a StatefulSet the API server refuses as InvalidSpec with the server message, and recovers', async () => {
    const { double, admin } = world;
    const refusal =
      'spec.template.spec.nodeSelector: Invalid value: "bad key": name part must consist of alphanumeric characters';
    const stopRefusing = double.validate('StatefulSet', (object) => {
      const template = (object.spec as { template?: { spec?: { nodeSelector?: Record<string, string> } } })
        .template;
      return template?.spec?.nodeSelector?.['bad key'] !== undefined ? refusal : null;
    });
    try {
      double.put(aspectManifest(NS, 'finch', { pod: { nodeSelector: { 'bad key': 'x' } } }));
      const failed = await failedWith('finch');
      expect(conditionOf(failed, 'Ready')?.message).toContain(refusal);
      const event = await invalidSpecEvent('finch');
      expect(String(event.message)).toContain(refusal);
      expect(find('StatefulSet', 'finch')).toBeUndefined();
      // The token minted for the refused StatefulSet is used by no pod: revoked at once.
      const tokens = await tokensFor(admin, 'finch');
      expect(tokens.filter((t) => !t.revoked_at)).toEqual([]);

      setSpec('finch', (spec) => delete spec.pod);
      await double.waitFor(() => find('StatefulSet', 'finch'), { ...WAIT, what: 'the StatefulSet finch' });
      await double.waitFor(() => statusOf(aspect('finch')).phase === 'Pending', {
        ...WAIT,
        what: 'finch Pending',
      });
      await waitUntil(async () => (await tokensFor(admin, 'finch')).some((t) => !t.revoked_at), {
        ...WAIT,
        what: 'a live token for finch',
      });
    } finally {
      stopRefusing();
    }
  });

  it('copies Unschedulable and ImagePullBackOff into PodReady and Ready (B.106)', async () => {
    const { double } = world;
    double.put(aspectManifest(NS, 'heron'));
    await double.waitFor(() => find('Pod', 'heron-0'), {
      ...WAIT,
      what: 'pod heron-0 (the stand-in controller)',
    });
    const reasonsAre = (reason: string) =>
      double.waitFor(
        () => {
          const a = aspect('heron');
          return conditionOf(a, 'PodReady')?.reason === reason && conditionOf(a, 'Ready')?.reason === reason
            ? a
            : undefined;
        },
        { ...WAIT, what: `PodReady and Ready ${reason}` },
      );

    const schedulerSays = '0/3 nodes are available: 3 Insufficient memory.';
    double.markPodUnschedulable({ namespace: NS, name: 'heron-0' }, schedulerSays); // as the scheduler
    const unschedulable = await reasonsAre('Unschedulable');
    expect(conditionOf(unschedulable, 'PodReady')).toMatchObject({ status: 'False', message: schedulerSays });

    const kubeletSays = 'Back-off pulling image "nexus-runtime:test"';
    double.markPodWaiting({ namespace: NS, name: 'heron-0' }, 'ImagePullBackOff', kubeletSays); // as the kubelet
    const backOff = await reasonsAre('ImagePullBackOff');
    expect(conditionOf(backOff, 'PodReady')).toMatchObject({ status: 'False', message: kubeletSays });
    expect(statusOf(backOff).phase).toBe('Pending');
  });

  it('wrote only pod specs that meet the restricted profile (B.101)', () => {
    expect(podSpecs.checked()).toBeGreaterThan(0);
    expect(podSpecs.violations()).toEqual([]);
  });
});
