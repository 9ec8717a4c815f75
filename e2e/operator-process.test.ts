/**
 * `nexus operator` as a process (B.43: the built executable a user runs) against a real broker and
 * the Kubernetes API double: it reads its environment and kubeconfig, leads, serves its probes and
 * metrics, reconciles, and on SIGTERM releases the Lease and exits 0. Bad settings are one line
 * and exit 2.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { aspectManifest, installAspectCrd } from '../testing/aspect-crd.js';
import {
  NEXUS_BIN,
  adminClient,
  createTestDatabase,
  runNexus,
  scrapeMetrics,
  startInProcessBroker,
  waitUntil,
  type TestDatabase,
} from '../testing/index.js';
import { kubeconfigFor, startKubeDouble, type KubeDouble } from '../testing/kube-double/index.js';

describe('nexus operator', () => {
  let db: TestDatabase;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;
  let double: KubeDouble;
  let work: string;
  let env: Record<string, string>;
  let operatorToken: string;

  beforeAll(async () => {
    db = await createTestDatabase('operator_process');
    broker = await startInProcessBroker({
      databaseUrl: db.url,
      env: { NEXUS_SECRET_KEY: randomBytes(32).toString('base64') },
    });
    const { token } = await adminClient(broker.url, broker.adminToken).post<{ token: string }>(
      '/v1/admin/tokens',
      { kind: 'admin', name: 'nexus-operator' },
    );
    double = await startKubeDouble();
    installAspectCrd(double);
    work = await mkdtemp(path.join(tmpdir(), 'nexus-operator-'));
    operatorToken = token;
    await writeFile(path.join(work, 'token'), `${token}\n`, { mode: 0o600 });
    env = {
      PATH: process.env.PATH ?? '',
      HOME: work,
      KUBECONFIG: await kubeconfigFor(double, { dir: work }),
      RUNTIME_IMAGE: 'nexus-runtime:test',
      // The URL given to pods does not resolve here; the operator reaches the broker by its own.
      NEXUS_URL: 'http://nexus-broker.nexus-system:7888',
      OPERATOR_BROKER_URL: broker.url,
      NEXUS_TOKEN_FILE: path.join(work, 'token'),
      POD_NAME: 'nexus-operator-0',
      POD_NAMESPACE: 'nexus-system',
      LEASE_DURATION_S: '2',
      LOG_LEVEL: 'info',
    };
  });
  afterAll(async () => {
    await double?.stop();
    await broker?.stop();
    await db?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('leads, serves probes and metrics, reconciles, and releases its Lease on SIGTERM', async () => {
    const child: ChildProcess = spawn(process.execPath, [NEXUS_BIN, 'operator', '--metrics-port', 'auto'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const { value: metricsUrl } = await waitUntil(() => /"metricsUrl":"([^"]+)"/.exec(output)?.[1], {
        timeoutMs: 30_000,
        what: 'the operator to log its metrics URL',
      });
      const base = metricsUrl.replace(/\/metrics$/, '');
      const lease = () => double.find({ kind: 'Lease', namespace: 'nexus-system', name: 'nexus-operator' });
      const holder = () => (lease()?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
      await double.waitFor(() => holder() === 'nexus-operator-0', {
        timeoutMs: 30_000,
        what: 'the Lease held',
      });
      await waitUntil(async () => (await fetch(`${base}/readyz`)).status === 200, {
        timeoutMs: 30_000,
        what: '/readyz 200 (leading, informers synced)',
      });

      double.put(aspectManifest('team', 'wren'));
      await double.waitFor(() => double.find({ kind: 'StatefulSet', namespace: 'team', name: 'wren' }), {
        timeoutMs: 30_000,
        what: 'the StatefulSet of wren',
      });
      const metrics = await scrapeMetrics(metricsUrl);
      expect(metrics.sample('nexus_operator_leader')).toBe(1);
      expect(output).not.toContain(operatorToken); // logs never carry the token

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(holder()).toBe('');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses bad settings with one line and exit 2', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ RUNTIME_IMAGE: '' }, 'nexus: operator: RUNTIME_IMAGE is required'],
      [
        { OPERATOR_BROKER_URL: 'ftp://x' },
        'nexus: operator: OPERATOR_BROKER_URL must be an http:// or https:// URL',
      ],
      [
        { NEXUS_TOKEN_FILE: path.join(work, 'missing') },
        'nexus: operator: neither NEXUS_TOKEN nor the token file',
      ],
      [{ KUBECONFIG: '' }, 'nexus: operator: no Kubernetes cluster: set KUBECONFIG'],
    ];
    for (const [change, line] of cases) {
      const run = await runNexus(['operator'], { ...env, ...change });
      expect({ change, code: run.code, stderr: run.stderr.split('\n')[0]?.slice(0, line.length) }).toEqual({
        change,
        code: 2,
        stderr: line,
      });
      expect(run.stdout).toBe('');
    }
  });
});
