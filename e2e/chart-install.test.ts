/**
 * Issue 12, test item 2: the real `helm install`, `helm upgrade` and `helm uninstall` of
 * charts/nexus onto the Kubernetes API double, with Helm's release records in Postgres
 * (HELM_DRIVER=sql, TOOLCHAIN.md). Helm waits on its hooks (its default `--wait=hookOnly`); the
 * release itself is not waited on, since no pod runs here.
 *
 * The test plays the kubelet and the Job controller for the hook Jobs (testing/hook-jobs.ts): it
 * runs each container's command itself with the environment the pod would get, then marks the Job
 * complete, which is what Helm's hook wait reads. The post-install Job's `nexus token mint
 * --into-secret` runs against a real broker process whose bootstrap token and secret key are the
 * ones the chart's Secret holds; the pre-delete Job's init container (`kubectl delete aspects ...
 * --wait`) runs with the real kubectl to its end, then its containers side by side: `nexus token
 * revoke --name` against the same broker and `kubectl delete secrets` of the two token Secrets. The
 * test also plays the kubelet for the operator's Deployment: it starts `nexus
 * operator` from the Deployment's pod template (testing/kubelet.ts) with the token the hook wrote.
 * What stands in for the cluster, and why, is said where it happens: Service DNS names do not
 * resolve here (the broker's URL is given instead), the pods' service accounts are the double's
 * kubeconfig (the double has no RBAC), and the chart's own Postgres pod is not run (the broker uses
 * a test database).
 */
import type { BrokerClient } from '../client/index.js';
import { adminClient } from '../testing/aspects.js';
import { startBrokerProcess, runNexus, type BrokerProcess } from '../testing/broker-process.js';
import { find, renderChart, type KubeManifest } from '../testing/chart.js';
import {
  CHART_PATH,
  NAMESPACE,
  RELEASE,
  bodyOf as body,
  changeIndex,
  established,
  freePort,
  presentIn,
  releaseObjectsIn,
  storedMismatches,
  isHook,
  refOf,
  secretData,
  startChartWorld,
  type ChartWorld,
} from '../testing/chart-install.js';
import { completeJob, containerEnv, jobContainers, jobInitContainers } from '../testing/hook-jobs.js';
import { runKubectl, type ToolRun } from '../testing/kube-tools.js';
import type { Obj } from '../testing/kube-double/index.js';
import { createKubelet, type Kubelet } from '../testing/kubelet.js';
import type { NexusProcess } from '../testing/agent-process.js';
import { conditionOf, rosterStatus, statusOf, tokensFor } from '../testing/operator-e2e.js';

const FRAME = { kind: 'Aspect', apiVersion: 'nexus.dev/v1alpha1', namespace: NAMESPACE, name: 'frame' };
const CRD = { kind: 'CustomResourceDefinition', name: 'aspects.nexus.dev' };
const TOKEN_SECRETS = { operator: 'nexus-operator-token', worker: 'nexus-worker-token' };

interface TokenRow {
  id: string;
  kind: string;
  name?: string;
  revoked_at?: string;
}

describe('helm install, upgrade and uninstall of charts/nexus on the Kubernetes API double', () => {
  let world: ChartWorld;
  let kubelet: Kubelet;
  let rendered: KubeManifest[];
  let broker: BrokerProcess | undefined;
  let admin: BrokerClient;
  let operator: NexusProcess | undefined;
  let stopPvcBinder: (() => void) | undefined;

  beforeAll(async () => {
    world = await startChartWorld('chart_install');
    kubelet = await createKubelet();
    rendered = await renderChart();
  }, 120_000);
  afterAll(async () => {
    stopPvcBinder?.();
    await operator?.stop();
    await broker?.stop();
    await kubelet?.cleanup();
    await world?.stop();
  });

  /** Waits for helm to create a hook Job; fails at once with helm's output if helm ends first. */
  async function hookJob(name: string, helm: Promise<ToolRun>): Promise<Obj> {
    const ended = helm.then((run) => {
      throw new Error(`helm ended (${run.code}) before creating the Job ${name}:\n${run.stderr}`);
    });
    ended.catch(() => undefined);
    return Promise.race([
      world.double.waitFor(() => world.double.find({ kind: 'Job', namespace: NAMESPACE, name }), {
        timeoutMs: 90_000,
        what: `helm to create the hook Job ${name}`,
      }),
      ended,
    ]);
  }

  it('helm install: the CRD before what needs it, every object of helm template, the token Job played by the test writes both tokens, the frame Aspect after it', async () => {
    const install = world.helm(['install', RELEASE, CHART_PATH, '-n', NAMESPACE, '--create-namespace']);
    const job = await hookJob('nexus-tokens', install);

    // The chart's Secret is created with the release, before the hook: the broker runs with it.
    const chartSecret = secretData(world.double, 'nexus');
    expect(chartSecret.NEXUS_BOOTSTRAP_TOKEN).toMatch(/^nxo_[A-Za-z0-9]{43}$/);
    broker = await startBrokerProcess({
      databaseUrl: world.brokerDb.url,
      bootstrapToken: chartSecret.NEXUS_BOOTSTRAP_TOKEN!,
      env: { NEXUS_SECRET_KEY: chartSecret.NEXUS_SECRET_KEY! },
    });
    admin = adminClient(broker.url, chartSecret.NEXUS_BOOTSTRAP_TOKEN!);

    // Playing the kubelet: each container's command, with its pod's environment.
    const containers = jobContainers(job);
    expect(containers.map((c) => c.name)).toEqual(['operator-token', 'worker-token']);
    for (const container of containers) {
      const env = containerEnv(world.double, job, container, 'nexus-tokens-4xk9p');
      expect(env.NEXUS_URL).toBe('http://nexus-broker.nexus-system.svc:7888');
      const run = await runNexus(container.args ?? [], {
        ...env,
        NEXUS_URL: broker.url, // the Service's DNS name does not resolve here
        KUBECONFIG: world.kubeconfig, // the Job's service account: the double has no RBAC
        HOME: world.work,
      });
      expect({ container: container.name, code: run.code, output: run.output }).toMatchObject({ code: 0 });
      expect(run.output).not.toContain(chartSecret.NEXUS_BOOTSTRAP_TOKEN);
    }
    completeJob(world.double, job);

    const installed = await install;
    expect({ code: installed.code, stderr: installed.stderr }).toEqual({ code: 0, stderr: '' });
    expect(installed.stdout).toContain('STATUS: deployed');

    // The tokens are in their Secrets, labelled with their ids, and are the broker's.
    const { tokens } = await admin.get<{ tokens: TokenRow[] }>('/v1/admin/tokens');
    for (const [who, secretName] of Object.entries(TOKEN_SECRETS)) {
      const { token } = secretData(world.double, secretName);
      const row = tokens.find((t) => t.name === `nexus-${who}`);
      expect(row).toMatchObject({ kind: who === 'operator' ? 'admin' : 'worker' });
      expect(row?.revoked_at).toBeUndefined();
      const secret = world.double.get({ kind: 'Secret', namespace: NAMESPACE, name: secretName });
      expect(secret.metadata.labels?.['nexus.dev/token-id']).toBe(row?.id);
      expect(token).toMatch(/^nx/);
    }
    const operatorToken = secretData(world.double, TOKEN_SECRETS.operator).token!;
    await expect(adminClient(broker.url, operatorToken).get('/v1/aspects')).resolves.toBeDefined();

    // The CRD is created before anything that can need it, and Established before the Aspect.
    const { changes } = world;
    const crdAdded = changeIndex(changes, { type: 'ADDED', ...CRD });
    const kindsBefore = new Set(changes.slice(0, crdAdded).map((c) => c.kind));
    // Helm's install order puts only these kinds (none can refer to a CRD) before it.
    for (const kind of kindsBefore)
      expect([
        'Namespace',
        'NetworkPolicy',
        'PodDisruptionBudget',
        'ServiceAccount',
        'Secret',
        'ConfigMap',
      ]).toContain(kind);
    for (const kind of ['ClusterRole', 'Role', 'Service', 'Deployment', 'StatefulSet', 'Job', 'Aspect'])
      expect(changeIndex(changes, { type: 'ADDED', kind })).toBeGreaterThan(crdAdded);
    const aspectAdded = changeIndex(changes, { type: 'ADDED', kind: 'Aspect' });
    const crdThen = changes
      .slice(0, aspectAdded)
      .filter((c) => c.kind === CRD.kind)
      .at(-1)?.object;
    expect(established(crdThen)).toBe(true);

    // Every object of the release is in the double as helm template renders it (the Secret's
    // generated values aside), and nothing else carries the release's name.
    const release = rendered.filter((o) => !isHook(o));
    expect(storedMismatches(world.double, release)).toEqual([]);
    expect(releaseObjectsIn(world.double).map(refOf).sort()).toEqual(release.map(refOf).sort());

    // The post-install hooks: the token Job's access made and removed (hook-succeeded), the frame kept.
    for (const hook of rendered.filter((o) => o.metadata.annotations?.['helm.sh/hook'] === 'post-install')) {
      const ref = { kind: hook.kind, namespace: hook.metadata.namespace, name: hook.metadata.name };
      expect({
        hook: refOf(hook),
        added: changeIndex(changes, { type: 'ADDED', ...ref }) >= 0,
      }).toMatchObject({ added: true });
      const deleted = changeIndex(changes, { type: 'DELETED', ...ref }) >= 0;
      expect({ hook: refOf(hook), deleted }).toEqual({ hook: refOf(hook), deleted: hook.kind !== 'Aspect' });
    }
    expect(body(world.double.get(FRAME))).toEqual(body(find(rendered, 'Aspect', 'frame')[0]!));
    // The pre-delete hook and the helm test pod are not created by an install.
    expect(
      world.double.find({ kind: 'Job', namespace: NAMESPACE, name: 'nexus-pre-delete' }),
    ).toBeUndefined();
    expect(world.double.list({ kind: 'Pod' })).toEqual([]);
  }, 240_000);

  it("the operator, run from the chart's Deployment with the token the hook wrote, reconciles the chart's frame Aspect", async () => {
    const deployment = world.double.get({ kind: 'Deployment', namespace: NAMESPACE, name: 'nexus-operator' });
    // The PVC binder stands in for the cluster's provisioner (the double's controllers are off by default).
    stopPvcBinder = world.double.controllers.pvcBinder();
    const lookup = (kind: string) => (name: string) =>
      world.double.find({ kind, namespace: NAMESPACE, name });
    operator = await kubelet.startPod(
      deployment,
      { configMap: lookup('ConfigMap'), secret: lookup('Secret') },
      {
        // The downward API's values (kubelet.ts copies plain values only).
        POD_NAME: 'nexus-operator-6d5f8c7b9-q2x7z',
        POD_NAMESPACE: NAMESPACE,
        // Pods share one host here; the Service's name does not resolve, so the operator is told
        // where the broker is (OPERATOR_BROKER_URL), while NEXUS_URL stays the chart's, for pods.
        METRICS_PORT: String(await freePort()),
        OPERATOR_BROKER_URL: broker!.url,
        KUBECONFIG: world.kubeconfig, // its service account: the double has no RBAC
        HOME: world.work,
      },
    );
    await operator.waitForLog('informers synced', 60_000);
    const lease = world.double.get({ kind: 'Lease', namespace: NAMESPACE, name: 'nexus-operator' });
    expect((lease.spec as { holderIdentity?: string }).holderIdentity).toBe('nexus-operator-6d5f8c7b9-q2x7z');

    const frame = await world.double.waitFor(
      () => {
        const aspect = world.double.find(FRAME);
        return conditionOf(aspect, 'TokenReady')?.status === 'True' &&
          conditionOf(aspect, 'HomeReady')?.status === 'True'
          ? aspect
          : undefined;
      },
      { timeoutMs: 60_000, what: 'the frame Aspect with its token and home ready' },
    );
    expect(frame.metadata.finalizers).toContain('nexus.dev/finalizer');
    expect(statusOf(frame).observedGeneration).toBe(frame.metadata.generation);
    expect(conditionOf(frame, 'PodReady')).toMatchObject({ status: 'False' }); // no pod runs here
    for (const [kind, name] of [
      ['PersistentVolumeClaim', 'frame-home'],
      ['Secret', 'frame-token'],
      ['ConfigMap', 'frame-config'],
      ['StatefulSet', 'frame'],
    ] as const) {
      const owned = world.double.get({ kind, namespace: NAMESPACE, name });
      expect({ kind, owners: owned.metadata.ownerReferences?.map((r) => r.uid) }).toEqual({
        kind,
        owners: [frame.metadata.uid],
      });
    }
    // The StatefulSet's pods would reach the broker at the chart's URL, with the chart's runtime image.
    const sts = world.double.get({ kind: 'StatefulSet', namespace: NAMESPACE, name: 'frame' });
    expect(JSON.stringify(sts.spec)).toContain('http://nexus-broker.nexus-system.svc:7888');
    expect(JSON.stringify(sts.spec)).toContain('ghcr.io/nexus-agents/nexus-runtime:0.1.0');
    const frameTokens = await tokensFor(admin, 'frame');
    expect(frameTokens.filter((t) => !t.revoked_at).map((t) => t.name)).toEqual([
      `operator:${NAMESPACE}/frame`,
    ]);
  }, 120_000);

  it('helm upgrade with a changed value changes the objects and keeps the generated bootstrap token (lookup), minting nothing', async () => {
    const secretBefore = secretData(world.double, 'nexus');
    const frameBefore = world.double.get(FRAME);
    const from = world.changes.length;
    const upgraded = await world.helm([
      'upgrade',
      RELEASE,
      CHART_PATH,
      '-n',
      NAMESPACE,
      '--set',
      'workers.replicas=3',
    ]);
    expect({ code: upgraded.code, stderr: upgraded.stderr }).toEqual({ code: 0, stderr: '' });
    expect(upgraded.stdout).toContain('REVISION: 2');

    const wanted = await renderChart({ values: { workers: { replicas: 3 } } });
    const workers = world.double.get({ kind: 'Deployment', namespace: NAMESPACE, name: 'nexus-worker' });
    expect((workers.spec as { replicas: number }).replicas).toBe(3);
    expect(body(workers)).toEqual(body(find(wanted, 'Deployment', 'nexus-worker')[0]!));
    // More than one worker gets its PodDisruptionBudget.
    const pdb = world.double.get({ kind: 'PodDisruptionBudget', namespace: NAMESPACE, name: 'nexus-worker' });
    expect(body(pdb)).toEqual(body(find(wanted, 'PodDisruptionBudget', 'nexus-worker')[0]!));
    const since = world.changes.slice(from);
    expect(since.filter((c) => c.type !== 'MODIFIED').map((c) => refOf(c.object))).toEqual([
      'PodDisruptionBudget nexus-system/nexus-worker',
    ]);
    expect(since.map((c) => `${c.type} ${c.kind} ${c.name}`)).toEqual(
      expect.arrayContaining(['MODIFIED Deployment nexus-worker']),
    );

    // The generated secrets were read back (lookup), so the broker and its stored credentials still
    // match; no token Job ran (tokens are minted on install only); the frame was left as it was.
    expect(secretData(world.double, 'nexus')).toEqual(secretBefore);
    expect(since.some((c) => c.kind === 'Job')).toBe(false);
    expect(world.double.get(FRAME).metadata.generation).toBe(frameBefore.metadata.generation);
    await expect(admin.get('/v1/aspects')).resolves.toBeDefined();
  }, 120_000);

  it("helm uninstall: the pre-delete Job (played by the test) deletes the chart's Aspects while the operator finalizes them, then revokes the hook's tokens and deletes their Secrets; the release goes, the CRD and the home are kept", async () => {
    // What the post-install Job minted, before anything is removed: the values and the broker's ids.
    const minted = await Promise.all(
      Object.entries(TOKEN_SECRETS).map(async ([who, secret]) => ({
        who,
        secret,
        value: secretData(world.double, secret).token!,
        ids: (await admin.get<{ tokens: TokenRow[] }>(`/v1/admin/tokens?name=nexus-${who}`)).tokens.map(
          (t) => t.id,
        ),
      })),
    );
    expect(minted.map((m) => m.ids.length)).toEqual([1, 1]);

    const uninstall = world.helm(['uninstall', RELEASE, '-n', NAMESPACE]);
    const job = await hookJob('nexus-pre-delete', uninstall);
    // Playing the kubelet: the init container runs to its end before the containers start.
    const [aspects, ...moreInit] = jobInitContainers(job);
    expect(moreInit).toEqual([]);
    expect(aspects!.image).toBe('registry.k8s.io/kubectl:v1.33.9');
    expect(aspects!.command).toBeUndefined(); // the image's entrypoint is kubectl
    // The container's arguments to the real kubectl v1.33 (kube-tools).
    const deleted = await runKubectl(aspects!.args ?? [], {
      kubeconfig: world.kubeconfig,
      timeoutMs: 120_000,
    });
    expect({ code: deleted.code, stderr: deleted.stderr }).toEqual({ code: 0, stderr: '' });
    expect(deleted.stdout).toContain('aspect.nexus.dev "frame" deleted');
    // kubectl --wait returned once the Aspect was gone: the operator's finalizer ran, and the
    // operator's Deployment was still there (B.62), with its token live until then.
    expect(world.double.find(FRAME)).toBeUndefined();
    expect(
      world.double.find({ kind: 'Deployment', namespace: NAMESPACE, name: 'nexus-operator' }),
    ).toBeDefined();
    await expect(adminClient(broker!.url, minted[0]!.value).get('/v1/aspects')).resolves.toBeDefined();

    // Then the containers, side by side: `nexus token revoke --name` with the bootstrap token, and
    // the real kubectl deleting the two Secrets.
    const containers = jobContainers(job);
    expect(containers.map((c) => c.name)).toEqual([
      'revoke-operator-token',
      'revoke-worker-token',
      'delete-token-secrets',
    ]);
    const runs = await Promise.all(
      containers.map(async (container) => {
        if (container.image === 'registry.k8s.io/kubectl:v1.33.9') {
          const run = await runKubectl(container.args ?? [], {
            kubeconfig: world.kubeconfig,
            timeoutMs: 60_000,
          });
          return { container: container.name, ...run };
        }
        const env = containerEnv(world.double, job, container, 'nexus-pre-delete-7hq2m');
        expect(env.NEXUS_URL).toBe('http://nexus-broker.nexus-system.svc:7888');
        const run = await runNexus(container.args ?? [], {
          ...env,
          NEXUS_URL: broker!.url, // the Service's DNS name does not resolve here
          HOME: world.work,
        });
        return { container: container.name, code: run.code, stdout: run.stdout, stderr: run.stderr };
      }),
    );
    expect(runs.map((r) => ({ container: r.container, code: r.code }))).toEqual(
      containers.map((c) => ({ container: c.name, code: 0 })),
    );
    expect(runs.map((r) => r.stdout)).toEqual([
      `revoked ${minted[0]!.ids[0]}\n`,
      `revoked ${minted[1]!.ids[0]}\n`,
      expect.stringMatching(
        /^secret "nexus-operator-token" deleted( from nexus-system namespace)?\nsecret "nexus-worker-token" deleted/,
      ),
    ]);
    const bootstrap = secretData(world.double, 'nexus').NEXUS_BOOTSTRAP_TOKEN!;
    for (const run of runs) expect(run.stdout + run.stderr).not.toContain(bootstrap);
    completeJob(world.double, job);

    const done = await uninstall;
    expect({ code: done.code, stderr: done.stderr }).toEqual({ code: 0, stderr: '' });
    expect(done.stdout).toContain('[CustomResourceDefinition] aspects.nexus.dev');
    expect(done.stdout).toContain(`release "${RELEASE}" uninstalled`);

    const { changes } = world;
    const frameGone = changeIndex(changes, { type: 'DELETED', kind: 'Aspect', name: 'frame' });
    expect(frameGone).toBeGreaterThan(-1);
    // Its deletion waited on the finalizer, which the operator removed.
    const marked = changes.findIndex(
      (c) => c.kind === 'Aspect' && c.name === 'frame' && c.object.metadata.deletionTimestamp !== undefined,
    );
    expect(marked).toBeGreaterThan(-1);
    expect(marked).toBeLessThan(frameGone);
    expect(changes[marked]!.object.metadata.finalizers).toContain('nexus.dev/finalizer');
    expect(
      changeIndex(changes, { type: 'DELETED', kind: 'Deployment', name: 'nexus-operator' }),
    ).toBeGreaterThan(frameGone);
    // The operator released it: revoked the frame's token and deregistered it.
    expect((await tokensFor(admin, 'frame')).every((t) => t.revoked_at)).toBe(true);
    expect(await rosterStatus(admin, 'frame')).toBeUndefined();

    // The release's objects are gone but the CRD and the chart's Secret (keep policy: a reinstall
    // onto the kept database needs its password and secret key); the retained home is kept, unowned.
    const release = rendered.filter((o) => !isHook(o));
    expect(presentIn(world.double, release).sort()).toEqual(
      [`${CRD.kind} /${CRD.name}`, `Secret ${NAMESPACE}/nexus`].sort(),
    );
    expect(established(world.double.find(CRD))).toBe(true);
    const home = world.double.get({
      kind: 'PersistentVolumeClaim',
      namespace: NAMESPACE,
      name: 'frame-home',
    });
    expect(home.metadata.ownerReferences ?? []).toEqual([]);
    // The token Secrets the post-install Job wrote are no object of the release: the pre-delete
    // Job removed them, and their tokens are revoked at the broker (which the bootstrap token still
    // reaches: it is the chart's Secret's, and the broker's database outlives the release).
    for (const { who, secret, value, ids } of minted) {
      const { tokens } = await admin.get<{ tokens: TokenRow[] }>(`/v1/admin/tokens?name=nexus-${who}`);
      expect({ who, revoked: tokens.filter((t) => t.revoked_at).map((t) => t.id) }).toEqual({
        who,
        revoked: ids,
      });
      await expect(adminClient(broker!.url, value).get('/v1/aspects')).rejects.toMatchObject({ status: 401 });
      expect(world.double.find({ kind: 'Secret', namespace: NAMESPACE, name: secret })).toBeUndefined();
    }
    for (const [kind, name] of [
      ['StatefulSet', 'frame'],
      ['ConfigMap', 'frame-config'],
      ['Secret', 'frame-token'],
      ['Secret', TOKEN_SECRETS.operator],
      ['Secret', TOKEN_SECRETS.worker],
    ] as const)
      expect({
        kind,
        present: world.double.find({ kind, namespace: NAMESPACE, name }) !== undefined,
      }).toEqual({ kind, present: false });
    // Every pre-delete hook object was removed after it succeeded.
    const preDelete = rendered.filter((o) => o.metadata.annotations?.['helm.sh/hook'] === 'pre-delete');
    expect(preDelete.length).toBeGreaterThan(0);
    expect(presentIn(world.double, preDelete)).toEqual([]);
    // The release records in Postgres are gone.
    const list = await world.helm(['list', '-n', NAMESPACE, '-o', 'json']);
    expect(list).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
    const history = await world.helm(['history', RELEASE, '-n', NAMESPACE]);
    expect(history).toMatchObject({ code: 1, stderr: expect.stringContaining('release: not found') });

    // The kubelet stops the pod of the deleted Deployment: the operator exits cleanly.
    expect(await operator!.stop()).toBe(0);
    operator = undefined;
  }, 240_000);
});
