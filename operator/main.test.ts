/**
 * `runOperator` in this process with the real reconcile, a real broker on Postgres and the
 * Kubernetes API double: the wiring of informers → queue → observe → reconcile → writer, the
 * expected roster, metrics and probes, and leadership. (The whole user path, pods registering and
 * all, is the end-to-end suite's.)
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { BrokerClient } from '../client/index.js';
import { createLogger } from '../platform/index.js';
import { aspectManifest, installAspectCrd } from '../testing/aspect-crd.js';
import {
  adminClient,
  createTestDatabase,
  scrapeMetrics,
  startInProcessBroker,
  waitUntil,
  type TestDatabase,
} from '../testing/index.js';
import { kubeConfigFor, startKubeDouble, type KubeDouble } from '../testing/kube-double/index.js';
import { LEASE_NAME } from './kube/leader.js';
import { runOperator, type RunningOperator } from './main.js';
import { reconcileAspect } from './reconcile.js';
import { readOperatorSettings } from './settings.js';
import type { Observed, ReconcileDeps, ReconcileOutcome } from './types.js';

const logger = createLogger({ name: 'operator-under-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

describe('runOperator in-process', () => {
  let db: TestDatabase;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;
  let admin: BrokerClient;
  let operatorToken: string;
  let double: KubeDouble;
  let sql: pg.Client;
  const running: RunningOperator[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('operator_main');
    broker = await startInProcessBroker({
      databaseUrl: db.url,
      env: { NEXUS_SECRET_KEY: randomBytes(32).toString('base64') },
    });
    admin = adminClient(broker.url, broker.adminToken);
    operatorToken = (
      await admin.post<{ token: string }>('/v1/admin/tokens', { kind: 'admin', name: 'nexus-operator' })
    ).token;
    await admin.call('PUT', '/v1/credentials/anthropic', { value: 'sk-test' });
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
  });
  beforeEach(async () => {
    double = await startKubeDouble();
    installAspectCrd(double);
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((o) => o.stop()));
    await double.stop();
  });
  afterAll(async () => {
    await sql?.end();
    await broker?.stop();
    await db?.drop();
  });

  const settings = (podName: string) =>
    readOperatorSettings({
      RUNTIME_IMAGE: 'nexus-runtime:test',
      NEXUS_URL: 'http://nexus-broker:7888',
      POD_NAME: podName,
      POD_NAMESPACE: 'nexus-system',
      LEASE_DURATION_S: '2',
      RESYNC_S: '3600',
    });
  const start = async (
    podName: string,
    reconcile: (o: Observed, d: ReconcileDeps) => Promise<ReconcileOutcome> = reconcileAspect,
  ) => {
    const operator = await runOperator(settings(podName), {
      reconcile,
      logger,
      brokerUrl: broker.url,
      brokerToken: () => operatorToken,
      kubeConfig: kubeConfigFor(double),
      server: { metricsPort: { kind: 'auto' }, healthPort: 0 },
      rosterDebounceMs: 50,
    });
    running.push(operator);
    return operator;
  };
  const until = <T>(check: () => T | Promise<T>, what: string) =>
    waitUntil(check, { timeoutMs: 20_000, what });
  const probe = async (operator: RunningOperator, path: string) =>
    fetch(`${operator.server?.healthUrl}${path}`).then(async (r) => ({
      status: r.status,
      body: await r.text(),
    }));

  it('reconciles an applied Aspect into its owned objects, reports the expected roster, and serves metrics', async () => {
    const operator = await start('operator-0');
    expect(operator.operatorTokenName).toBe('nexus-operator');
    await until(
      async () => operator.leading && (await probe(operator, '/readyz')).status === 200,
      'the operator to lead, its informers synced',
    );

    double.put(aspectManifest('team', 'wren', { credentials: ['anthropic'] }));
    double.put(aspectManifest('team', 'lark', { suspend: true }));
    for (const [kind, name] of [
      ['PersistentVolumeClaim', 'wren-home'],
      ['ConfigMap', 'wren-config'],
      ['StatefulSet', 'wren'],
      ['Secret', 'wren-token'],
    ] as const)
      await double.waitFor(() => double.find({ kind, namespace: 'team', name }), { what: `${kind} ${name}` });

    // B.95: the grant is the operator's own.
    await until(async () => {
      const { credentials } = await admin.get<{
        credentials: { name: string; grants: { aspect: string; granted_by: string }[] }[];
      }>('/v1/credentials');
      return credentials
        .find((c) => c.name === 'anthropic')
        ?.grants.some((g) => g.aspect === 'wren' && g.granted_by === 'nexus-operator');
    }, 'the anthropic grant to wren');

    // B.24: wren is expected, lark is suspended.
    await until(async () => {
      const { rows } = await sql.query<{ source: string; aspect: string }>(
        'SELECT source, aspect FROM expected_aspects ORDER BY aspect',
      );
      return (
        JSON.stringify(rows) ===
        JSON.stringify([{ source: `operator:nexus-system/${LEASE_NAME}`, aspect: 'wren' }])
      );
    }, 'the expected roster [wren]');

    const metrics = await scrapeMetrics(operator.server?.metricsUrl as string);
    expect(metrics.sample('nexus_operator_leader')).toBe(1);
    expect(
      metrics.sample('nexus_operator_kube_requests_total', { verb: 'create', code: '201' }),
    ).toBeGreaterThanOrEqual(4);
    expect(metrics.sample('nexus_operator_reconcile_total', { result: 'ok' })).toBeDefined();
  });

  it('reconciles an Aspect again when a ConfigMap its identity names is created (B.107)', async () => {
    const seen: string[] = [];
    const operator = await start('operator-0', async (observed) => {
      const cm = observed.referencedConfigMaps.get('wren-identity');
      seen.push(`${observed.aspect.metadata.name}:${cm ? 'present' : 'missing'}`);
      return {};
    });
    await until(() => operator.leading && operator.ready().ready, 'leading and ready');
    double.put(
      aspectManifest('team', 'wren', {
        identity: { soul: { configMapKeyRef: { name: 'wren-identity', key: 'SOUL.md' } } },
      }),
    );
    await until(() => seen.includes('wren:missing'), 'a reconcile seeing the ConfigMap missing');
    double.put({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'wren-identity', namespace: 'team' },
      data: { 'SOUL.md': 'curious' },
    });
    await until(() => seen.includes('wren:present'), 'a reconcile seeing the ConfigMap');
  });

  it('starts a regained term only after the lost one has stopped; a lost term writes nothing to the broker', async () => {
    let release = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    const calls: string[] = [];
    let lateMint: string | undefined;
    const a = await start('operator-a', async (o, deps) => {
      calls.push(o.aspect.metadata.name);
      if (calls.length === 1) {
        await released; // a reconcile still running when the Lease is lost
        lateMint = await deps.broker.mintAspectToken('wren', 'late', false).then(
          () => 'minted',
          (err: Error) => err.name,
        );
      }
      return {};
    });
    await until(() => a.leading && a.ready().ready, 'a to lead, synced');
    double.put(aspectManifest('team', 'wren'));
    await until(() => calls.length === 1, 'the first reconcile to start');
    double.faults.add({ method: 'PUT', path: /\/leases\//, status: 409 });
    await until(() => !a.leading, 'a to lose the Lease');
    await until(() => a.leading, 'a to win it back');
    const renewals = double.requests({ kind: 'Lease', method: 'PUT' }).length;
    await until(
      () => double.requests({ kind: 'Lease', method: 'PUT' }).length >= renewals + 2,
      'two more renewals',
    );
    expect(calls).toEqual(['wren']); // the new term waits for the old term's reconcile
    expect(a.ready().ready).toBe(false);
    release();
    await until(() => calls.length >= 2, 'the new term to reconcile wren');
    expect(lateMint).toBe('TermEnded');
  });

  it('runs one leader of two; the standby is ready, and takes over when the leader stops', async () => {
    const calls: string[] = [];
    const record = (who: string) => async (o: Observed) => {
      calls.push(`${who}:${o.aspect.metadata.name}`);
      return {};
    };
    const a = await start('operator-a', record('a'));
    await until(() => a.leading, 'a to lead');
    const b = await start('operator-b', record('b'));
    await until(async () => (await probe(b, '/readyz')).body.includes('standby'), 'b to be a ready standby');
    double.put(aspectManifest('team', 'wren'));
    await until(() => calls.includes('a:wren'), 'a to reconcile wren');
    expect(calls.some((c) => c.startsWith('b:'))).toBe(false);

    await a.stop();
    running.splice(running.indexOf(a), 1);
    await until(() => b.leading && calls.includes('b:wren'), 'b to lead and reconcile wren');
    expect((await scrapeMetrics(b.server?.metricsUrl as string)).sample('nexus_operator_leader')).toBe(1);
  });
});
