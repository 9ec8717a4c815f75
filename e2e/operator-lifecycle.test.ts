/**
 * Issue 11, tests 1 and 5, the whole user path: `nexus operator` as a real process (the process
 * matters here: its environment, ASPECT_POD_DEFAULTS and RESYNC_S read as a user sets them), a
 * real broker process on real Postgres, and the Kubernetes API double. An applied Aspect becomes
 * its PVC, Secret, ConfigMap and StatefulSet; a real `nexus agent` started from that StatefulSet
 * registers; an edited identity ConfigMap rolls the pod and reaches the home; `suspend` scales to
 * zero; deletion runs the finalizer. Every pod spec written meets the restricted profile (B.101).
 *
 * Stand-ins, as the double's README says: the double runs its StatefulSet controller (pods
 * `NAME-0` from the template, re-created when the template changes, deleted on scale-down) and its
 * PVC binder; the test plays the kubelet (testing/kubelet.ts starts the pod's `nexus agent` with
 * its volumes as local folders, and `markPodReady` says the kubelet saw it ready).
 *
 * The tests run in order on one Aspect's life: each starts where the one before left it.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { aspectManifest } from '../testing/aspect-crd.js';
import { waitUntil, type NexusProcess, type Obj } from '../testing/index.js';
import { createKubelet, type Kubelet } from '../testing/kubelet.js';
import {
  conditionOf,
  grantsOf,
  recordPodSpecs,
  rosterReports,
  rosterStatus,
  statusOf,
  tokensFor,
  useOperatorWorld,
} from '../testing/operator-e2e.js';

const NS = 'team';
const WAIT = { timeoutMs: 40_000 };
const POD_DEFAULTS = {
  nodeSelector: { 'kubernetes.io/os': 'linux' },
  tolerations: [{ key: 'nexus.dev/aspects', operator: 'Exists', effect: 'NoSchedule' }],
  podSecurityContext: { runAsUser: 1001, runAsGroup: 1001, fsGroup: 1001 },
  labels: { 'example.com/team': 'platform' },
};
const WREN_POD = {
  podSecurityContext: { runAsUser: 2000 },
  annotations: { 'example.com/owner': 'team-a' },
  env: [{ name: 'TZ', value: 'UTC' }],
  volumes: [{ name: 'scratch', emptyDir: {} }],
  volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
};
const AGENT_V1 = '# Wren\nYou keep the team notes.\n';
const AGENT_V2 = '# Wren\nYou keep the team notes, and the minutes.\n';

type Spec = { spec: { replicas?: number; template: { metadata: TemplateMeta; spec: PodSpec } } };
type TemplateMeta = { labels?: Record<string, string>; annotations?: Record<string, string> };
type PodSpec = {
  nodeSelector?: Record<string, string>;
  tolerations?: unknown[];
  securityContext?: Record<string, unknown>;
  containers: { env?: { name: string; value?: string }[] }[];
};

describe('an Aspect through nexus operator (a process), a real broker and the API double', () => {
  const world = useOperatorWorld('operator_lifecycle', {
    controllers: ['statefulSets', 'pvcBinder'],
    operator: { env: { RESYNC_S: '2', ASPECT_POD_DEFAULTS: JSON.stringify(POD_DEFAULTS) } },
  });
  let kubelet: Kubelet;
  let pod: NexusProcess | null = null;
  let podSpecs: ReturnType<typeof recordPodSpecs>;

  const ref = (kind: string, name: string) => ({ kind, namespace: NS, name });
  const aspect = (name = 'wren') => world.double.find(ref('Aspect', name));
  const statefulSet = (name = 'wren') =>
    world.double.find(ref('StatefulSet', name)) as (Obj & Spec) | undefined;
  const checksum = () => statefulSet()?.spec.template.metadata.annotations?.['nexus.dev/config-checksum'];
  const identityConfigMap = (agent: string): Obj => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'wren-identity', namespace: NS },
    data: { 'AGENT.md': agent },
  });

  /** Plays the kubelet: starts wren-0's container from the StatefulSet as it is now. */
  const startPod = async (nodeEnv: Record<string, string> = {}) => {
    const lookup = (kind: string) => (name: string) => world.double.find(ref(kind, name));
    pod = await kubelet.startPod(
      world.double.get(ref('StatefulSet', 'wren')),
      { configMap: lookup('ConfigMap'), secret: lookup('Secret') },
      { METRICS_PORT: '0', ...nodeEnv }, // pods share this host: no fixed metrics port
    );
  };
  const stopPod = async () => {
    await pod?.stop();
    pod = null;
  };
  const reconciles = () => world.operator.reconciles();

  beforeAll(async () => {
    await world.admin.call('PUT', '/v1/credentials/anthropic', { value: 'sk-test' });
    podSpecs = recordPodSpecs(world.double);
    kubelet = await createKubelet();
    world.defer(async () => {
      await pod?.kill();
      podSpecs.stop();
      await kubelet.cleanup();
    });
  });

  it('makes an applied Aspect its owned objects and grant; the pod it describes registers and is Ready', async () => {
    const { double, admin } = world;
    double.put(identityConfigMap(AGENT_V1));
    double.put(
      aspectManifest(NS, 'wren', {
        identity: { agent: { configMapKeyRef: { name: 'wren-identity', key: 'AGENT.md' } } },
        credentials: ['anthropic'],
        pod: WREN_POD,
      }),
    );
    const owned: [string, string][] = [
      ['PersistentVolumeClaim', 'wren-home'],
      ['Secret', 'wren-token'],
      ['ConfigMap', 'wren-config'],
      ['StatefulSet', 'wren'],
    ];
    for (const [kind, name] of owned)
      await double.waitFor(() => double.find(ref(kind, name)), { ...WAIT, what: `${kind} ${name}` });
    const uid = aspect()?.metadata.uid;
    for (const [kind, name] of owned)
      expect({ kind, refs: double.get(ref(kind, name)).metadata.ownerReferences }).toEqual({
        kind,
        refs: [expect.objectContaining({ kind: 'Aspect', name: 'wren', uid, controller: true })],
      });
    expect(double.get(ref('ConfigMap', 'wren-config')).data).toMatchObject({ 'AGENT.md': AGENT_V1 });

    // B.102 and B.100: the chart's defaults under the Aspect's own pod settings.
    const template = statefulSet()!.spec.template;
    expect(template.spec.nodeSelector).toEqual(POD_DEFAULTS.nodeSelector);
    expect(template.spec.tolerations).toEqual(POD_DEFAULTS.tolerations);
    expect(template.spec.securityContext).toMatchObject({
      runAsUser: 2000,
      runAsGroup: 1001,
      runAsNonRoot: true,
    });
    expect(template.metadata.labels).toMatchObject({ 'example.com/team': 'platform' });
    expect(template.metadata.annotations).toMatchObject({ 'example.com/owner': 'team-a' });
    expect(template.spec.containers[0]?.env).toContainEqual({ name: 'TZ', value: 'UTC' });

    // B.95: the grant is the operator's, under the name of the token it runs with.
    const tokenName = /"operatorToken":"([^"]+)"/.exec(world.operator.process.logs())?.[1];
    expect(tokenName).toBe('bootstrap');
    await waitUntil(
      async () =>
        (await grantsOf(admin, 'anthropic')).some((g) => g.aspect === 'wren' && g.granted_by === tokenName),
      { ...WAIT, what: 'the anthropic grant to wren by the operator' },
    );

    // The stand-in controller makes the pod object; the test, as the kubelet, runs its container.
    await double.waitFor(() => double.find(ref('Pod', 'wren-0')), { ...WAIT, what: 'pod wren-0' });
    await startPod();
    await double.waitFor(() => conditionOf(aspect(), 'Registered')?.status === 'True', {
      ...WAIT,
      what: 'Registered=True',
    });
    double.markPodReady({ namespace: NS, name: 'wren-0' });
    const ready = await double.waitFor(
      () => {
        const a = aspect();
        return conditionOf(a, 'Ready')?.status === 'True' && statusOf(a).phase === 'Running' ? a : undefined;
      },
      { ...WAIT, what: 'Ready=True and phase Running' },
    );
    expect(statusOf(ready).observedGeneration).toBe(ready.metadata.generation);
    expect(conditionOf(ready, 'HomeReady')).toMatchObject({ status: 'True', reason: 'ClaimBound' });
    expect(conditionOf(ready, 'TokenReady')).toMatchObject({ status: 'True', reason: 'TokenWritten' });
    expect(conditionOf(ready, 'PodReady')).toMatchObject({ status: 'True', reason: 'PodRunning' });
    expect(statusOf(ready).registered).toBe(true);
    for (const c of statusOf(ready).conditions ?? [])
      expect(c.observedGeneration).toBe(ready.metadata.generation);
    expect(await rosterStatus(admin, 'wren')).toBe('live');
  });

  it('writes nothing while the converged Aspect is resynced (B.63)', async () => {
    const { double } = world;
    const writes = () => ({
      aspect: double.writes({ kind: 'Aspect', namespace: NS }),
      namespace: double.writes({ namespace: NS }),
    });
    const before = writes();
    const [reconciled, reports] = [await reconciles(), await rosterReports(world.admin)];
    // RESYNC_S=2 queues wren again every 2 s (a Ready Aspect's own requeue is a minute away); two
    // more resync reports, and reconciles since, mean a whole resync passed.
    await waitUntil(
      async () => (await rosterReports(world.admin)) >= reports + 2 && (await reconciles()) >= reconciled + 1,
      { ...WAIT, what: 'a resync and its reconcile of the converged Aspect' },
    );
    expect(writes()).toEqual(before);
    expect(conditionOf(aspect(), 'Ready')?.status).toBe('True');
  });

  it('rolls the pod when the referenced ConfigMap changes; the new AGENT.md reaches the home', async () => {
    const { double } = world;
    const oldChecksum = checksum();
    const oldPod = double.get(ref('Pod', 'wren-0')).metadata.uid;
    double.put(identityConfigMap(AGENT_V2));
    await double.waitFor(() => checksum() !== oldChecksum, { ...WAIT, what: 'a new config checksum' });
    expect(double.get(ref('ConfigMap', 'wren-config')).data).toMatchObject({ 'AGENT.md': AGENT_V2 });
    // The stand-in controller rolled the pod: a new wren-0 from the new template.
    await double.waitFor(() => double.find(ref('Pod', 'wren-0'))?.metadata.uid !== oldPod, {
      ...WAIT,
      what: 'a new pod wren-0',
    });
    // As the kubelet: the old container stops with its pod, the new one starts.
    await stopPod();
    await startPod();
    const home = kubelet.claimFolder('wren-home');
    await waitUntil(async () => (await readFile(path.join(home, 'AGENT.md'), 'utf8')) === AGENT_V2, {
      ...WAIT,
      what: 'AGENT.md v2 in the home',
    });
    double.markPodReady({ namespace: NS, name: 'wren-0' });
    await double.waitFor(
      () => conditionOf(aspect(), 'Ready')?.status === 'True' && statusOf(aspect()).phase === 'Running',
      { ...WAIT, what: 'Ready again on the new pod' },
    );
  });

  it('scales to zero while suspended', async () => {
    const { double } = world;
    double.update(ref('Aspect', 'wren'), (a) => {
      (a.spec as { suspend?: boolean }).suspend = true;
    });
    await double.waitFor(() => statefulSet()?.spec.replicas === 0, { ...WAIT, what: 'replicas 0' });
    await double.waitFor(() => !double.find(ref('Pod', 'wren-0')), { ...WAIT, what: 'pod wren-0 gone' });
    await stopPod(); // the kubelet ends the container of a deleted pod
    const suspended = await double.waitFor(
      () => {
        const a = aspect();
        return statusOf(a).phase === 'Suspended' && statusOf(a).observedGeneration === a?.metadata.generation
          ? a
          : undefined;
      },
      { ...WAIT, what: 'phase Suspended at the new generation' },
    );
    expect(conditionOf(suspended, 'Ready')).toMatchObject({ status: 'False', reason: 'Suspended' });
  });

  it('runs the finalizer on delete: token revoked, aspect deregistered, home kept without its owner', async () => {
    const { double, admin } = world;
    const ours = (await tokensFor(admin, 'wren')).filter((t) => t.name === 'operator:team/wren');
    expect(ours.length).toBeGreaterThan(0);
    double.delete(ref('Aspect', 'wren'));
    await double.waitFor(() => !aspect(), { ...WAIT, what: 'the Aspect wren gone' });

    const after = (await tokensFor(admin, 'wren')).filter((t) => t.name === 'operator:team/wren');
    expect(after.map((t) => ({ id: t.id, revoked: Boolean(t.revoked_at) }))).toEqual(
      after.map((t) => ({ id: t.id, revoked: true })),
    );
    expect(await rosterStatus(admin, 'wren')).toBe('down');
    // The audit names the admin route the finalizer calls (an agent's own deregister is not audited).
    const { entries } = await admin.get<{ entries: { target: string; outcome: string }[] }>(
      '/v1/audit?action=aspect.deregister',
    );
    expect(entries).toContainEqual(expect.objectContaining({ target: 'wren', outcome: 'allowed' }));
    expect((await grantsOf(admin, 'anthropic')).filter((g) => g.aspect === 'wren')).toEqual([]);

    const home = double.find(ref('PersistentVolumeClaim', 'wren-home'));
    expect(home).toBeDefined();
    expect(home?.metadata.ownerReferences ?? []).toEqual([]);
    for (const [kind, name] of [
      ['Secret', 'wren-token'],
      ['ConfigMap', 'wren-config'],
      ['StatefulSet', 'wren'],
    ])
      expect({ kind, found: Boolean(double.find(ref(kind as string, name as string))) }).toEqual({
        kind,
        found: false,
      });
  });

  it('adopts the kept home when the Aspect is applied again; deleting it while its pod runs revokes that pod', async () => {
    const { double, admin } = world;
    double.put(
      aspectManifest(NS, 'wren', {
        identity: { agent: { configMapKeyRef: { name: 'wren-identity', key: 'AGENT.md' } } },
      }),
    );
    const uid = await double.waitFor(() => aspect()?.metadata.uid, { ...WAIT, what: 'the new Aspect wren' });
    await double.waitFor(
      () =>
        double
          .find(ref('PersistentVolumeClaim', 'wren-home'))
          ?.metadata.ownerReferences?.some((o) => o.uid === uid && o.controller === true),
      { ...WAIT, what: 'the kept home owned by the new Aspect' },
    );
    await double.waitFor(() => double.find(ref('Pod', 'wren-0')), { ...WAIT, what: 'pod wren-0' });
    // B.80: a refused token is re-read for NEXUS_TOKEN_RETRY_S (120 s) before the runtime gives up;
    // 1 s here, so the test sees it give up.
    await startPod({ NEXUS_TOKEN_RETRY_S: '1' });
    await double.waitFor(() => conditionOf(aspect(), 'Registered')?.status === 'True', {
      ...WAIT,
      what: 'wren registered again',
    });

    const live = (await tokensFor(admin, 'wren')).filter((t) => !t.revoked_at);
    expect(live.length).toBe(1);
    double.delete(ref('Aspect', 'wren'));
    await double.waitFor(() => !aspect(), { ...WAIT, what: 'the Aspect wren gone again' });
    expect((await tokensFor(admin, 'wren')).filter((t) => !t.revoked_at)).toEqual([]);
    expect(await rosterStatus(admin, 'wren')).toBe('down');
    expect(double.find(ref('PersistentVolumeClaim', 'wren-home'))?.metadata.ownerReferences ?? []).toEqual(
      [],
    );
    // The running agent learns its token is revoked and exits 2 (B.80); its pod went with the StatefulSet.
    expect(await pod?.exited()).toBe(2);
    expect(pod?.logs()).toContain('revoked');
    pod = null;
  });

  it('deletes the home of an Aspect with home.retainOnDelete false', async () => {
    const { double, admin } = world;
    double.put(aspectManifest(NS, 'lark', { home: { retainOnDelete: false } }));
    await double.waitFor(() => double.find(ref('StatefulSet', 'lark')), {
      ...WAIT,
      what: 'StatefulSet lark',
    });
    expect(double.find(ref('PersistentVolumeClaim', 'lark-home'))).toBeDefined();
    double.delete(ref('Aspect', 'lark'));
    await double.waitFor(() => !aspect('lark'), { ...WAIT, what: 'the Aspect lark gone' });
    expect(double.find(ref('PersistentVolumeClaim', 'lark-home'))).toBeUndefined();
    const tokens = (await tokensFor(admin, 'lark')).filter((t) => t.name === 'operator:team/lark');
    expect(tokens.length).toBeGreaterThan(0);
    expect(tokens.every((t) => t.revoked_at)).toBe(true);
  });

  it('wrote only pod specs that meet the restricted profile (B.101)', () => {
    expect(podSpecs.checked()).toBeGreaterThan(0);
    expect(podSpecs.violations()).toEqual([]);
  });
});
