/**
 * `nexus operator` as a process (B.43: the built executable a user runs) against a real broker and
 * the Kubernetes API double: it reads its environment and kubeconfig, leads, serves its probes and
 * metrics, reconciles, and on SIGTERM releases the Lease and exits 0. Bad settings are one line
 * and exit 2.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { aspectManifest } from '../testing/aspect-crd.js';
import { runNexus, scrapeMetrics, waitUntil } from '../testing/index.js';
import { useOperatorWorld } from '../testing/operator-e2e.js';

describe('nexus operator', () => {
  const world = useOperatorWorld('operator_process', { operator: false });
  let operatorToken: string;
  /** As the chart runs it: its own admin token from a file, the broker reached at its own URL. */
  let options: { tokenFile: string; env: Record<string, string> };

  beforeAll(async () => {
    const { token, file } = await world.mintOperatorToken();
    operatorToken = token;
    options = {
      tokenFile: file,
      // The URL given to pods does not resolve here; the operator reaches the broker by its own.
      env: {
        NEXUS_URL: 'http://nexus-broker.nexus-system:7888',
        OPERATOR_BROKER_URL: world.broker.url,
      },
    };
  });

  it('leads, serves probes and metrics, reconciles, and releases its Lease on SIGTERM', async () => {
    const { double } = world;
    const operator = await world.startOperator({ ...options, until: 'started' });
    try {
      const { metricsUrl } = operator;
      const base = metricsUrl.replace(/\/metrics$/, '');
      const holder = () => world.leaseHolder();
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
      expect(operator.process.logs()).not.toContain(operatorToken); // logs never carry the token

      expect(await operator.process.stop()).toBe(0); // SIGTERM
      expect(holder()).toBe('');
    } finally {
      await operator.process.kill();
    }
  });

  it('waits, alive, for a token file not written yet, then leads once it is (the chart mounts a Secret its hook writes later)', async () => {
    const tokenFile = path.join(world.work, 'operator-token-later');
    const operator = await world.startOperator({ ...options, tokenFile, until: 'started' });
    try {
      const base = operator.metricsUrl.replace(/\/metrics$/, '');
      await operator.process.waitForLog('waiting for the token file to exist and be non-empty');
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const readyz = await fetch(`${base}/readyz`);
      // 200: `helm install --wait` runs the hook that writes the file only once the pod is ready.
      expect(readyz.status).toBe(200);
      expect(((await readyz.json()) as { reason: string }).reason).toBe(
        `waiting for the token file: neither NEXUS_TOKEN nor the token file NEXUS_TOKEN_FILE=${tokenFile} was found`,
      );
      expect(world.leaseHolder() ?? '').toBe('');
      await writeFile(tokenFile, operatorToken);
      await world.double.waitFor(() => world.leaseHolder() === 'nexus-operator-0', {
        timeoutMs: 30_000,
        what: 'the Lease held once the token file is there',
      });
      await waitUntil(
        async () =>
          ((await (await fetch(`${base}/readyz`)).json()) as { reason: string }).reason ===
          'leading; informers synced',
        { timeoutMs: 30_000, what: '/readyz leading once the token file is there' },
      );
      expect(operator.process.logs().match(/waiting for the token file to exist/g)).toHaveLength(1);
      expect(await operator.process.stop()).toBe(0);
    } finally {
      await operator.process.kill();
    }
  });

  it('refuses bad settings with one line and exit 2', async () => {
    const { work } = world;
    const env = world.operatorEnv(options);
    const cases: [Record<string, string>, string][] = [
      [{ RUNTIME_IMAGE: '' }, 'nexus: operator: RUNTIME_IMAGE is required'],
      [
        { OPERATOR_BROKER_URL: 'ftp://x' },
        'nexus: operator: OPERATOR_BROKER_URL must be an http:// or https:// URL',
      ],
      // A missing file is waited for (a Secret the chart's hook writes later); a directory is not a token.
      [{ NEXUS_TOKEN_FILE: work }, 'nexus: operator: the token file NEXUS_TOKEN_FILE='],
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
