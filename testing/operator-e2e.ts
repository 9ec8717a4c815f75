/**
 * The scene of the operator's end-to-end tests: a real broker process on its own database, the
 * Kubernetes API double with the Aspect CRD, and `nexus operator` as real processes (B.43), one or
 * several replicas competing for one Lease, each with its own POD_NAME. The broker can be stopped
 * and started again on the same port, so the operators' NEXUS_URL keeps working across a broker
 * outage (fault 14). What the tests read of the scene is in operator-readers.ts (re-exported here).
 *
 * `useOperatorWorld` is the usual way in: it starts the scene (and an operator, unless told not to)
 * in a `beforeAll` and stops everything in an `afterAll`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BrokerClient } from '../client/index.js';
import { startNexusProcess, type NexusProcess } from './agent-process.js';
import { installAspectCrd } from './aspect-crd.js';
import { adminClient } from './aspects.js';
import { newAdminTokenValue, startBrokerProcess, type BrokerProcess } from './broker-process.js';
import {
  kubeconfigFor,
  startKubeDouble,
  type KubeDouble,
  type KubeDoubleOptions,
} from './kube-double/index.js';
import { reconcileCount } from './operator-readers.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';

export {
  conditionOf,
  eventsAbout,
  grantsOf,
  ownedCounts,
  reconcileCount,
  recordPodSpecs,
  rosterReports,
  rosterStatus,
  secretToken,
  secretTokenAccepted,
  statusOf,
  tokensFor,
  waitConverged,
  type AspectStatusView,
  type BrokerTokenRow,
  type Condition,
  type Converged,
} from './operator-readers.js';

export const OPERATOR_NAMESPACE = 'nexus-system';
export const LEASE = { kind: 'Lease', namespace: OPERATOR_NAMESPACE, name: 'nexus-operator' } as const;
const DEFAULT_POD_NAME = 'nexus-operator-0';

/** The Kubernetes API double serving Aspects (the CRD installed unless told not to), and a kubeconfig for it in `dir`. */
export async function startAspectApi(
  dir: string,
  options: KubeDoubleOptions & { installCrd?: boolean } = {},
): Promise<{ double: KubeDouble; kubeconfig: string }> {
  const { installCrd = true, ...doubleOptions } = options;
  const double = await startKubeDouble(doubleOptions);
  if (installCrd) installAspectCrd(double);
  return { double, kubeconfig: await kubeconfigFor(double, { dir }) };
}

/** Writes an operator token where NEXUS_TOKEN_FILE will name it (as the chart's projected Secret). */
export async function writeTokenFile(dir: string, token: string): Promise<string> {
  const file = path.join(dir, 'operator-token');
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  return file;
}

export interface OperatorWorldOptions {
  /** Broker settings on top of the scene's: credentials on (NEXUS_SECRET_KEY), rate limits off. */
  brokerEnv?: Record<string, string>;
  /** Install the Aspect CRD into the double (default); false where the test applies crds/ itself. */
  installCrd?: boolean;
  /** The double's stand-in controllers to run for the scene's life (the test says what it plays). */
  controllers?: ('statefulSets' | 'pvcBinder')[];
}

export interface OperatorOptions {
  /** POD_NAME, the operator's Lease identity (default nexus-operator-0). */
  podName?: string;
  /** Settings over the scene's (RUNTIME_IMAGE, POD_NAMESPACE nexus-system, LEASE_DURATION_S 2, …). */
  env?: Record<string, string>;
  /** NEXUS_TOKEN_FILE instead of the bootstrap token in NEXUS_TOKEN (see `mintOperatorToken`). */
  tokenFile?: string;
  /**
   * `leading` (default): resolves once it holds the Lease and its informers synced. `started`:
   * once it logged its metrics URL, for a replica that may stand by or a cluster with no CRD yet.
   */
  until?: 'leading' | 'started';
}

export interface OperatorProcess {
  podName: string;
  process: NexusProcess;
  metricsUrl: string;
  /** `nexus_operator_reconcile_total`, summed over results. */
  reconciles(): Promise<number>;
}

export interface OperatorWorld {
  db: TestDatabase;
  /** The broker now running (another process after `restartBroker`, on the same URL). */
  readonly broker: BrokerProcess;
  /** The broker's bootstrap admin token: the operator acts under it (its name is `bootstrap`). */
  adminToken: string;
  admin: BrokerClient;
  double: KubeDouble;
  kubeconfig: string;
  /** A folder for the kubeconfig and the like. */
  work: string;
  /** Starts `nexus operator --metrics-port auto` as a user runs it; see `OperatorOptions`. */
  startOperator(options?: OperatorOptions): Promise<OperatorProcess>;
  /** Every operator it started, in order (dead ones too). */
  readonly operators: readonly OperatorProcess[];
  /** The environment `startOperator` gives the process (without PATH), for one-shot runs. */
  operatorEnv(options?: Omit<OperatorOptions, 'until'>): Record<string, string>;
  /** Mints an admin token named `nexus-operator` (the chart's) and writes it to a token file. */
  mintOperatorToken(): Promise<{ token: string; file: string }>;
  /** The Lease's holderIdentity ('' or undefined when free). */
  leaseHolder(): string | undefined;
  /** SIGTERMs the broker and waits for it to exit. */
  stopBroker(): Promise<void>;
  /** Starts a broker again on the same database and the same port. */
  restartBroker(): Promise<void>;
  /** Runs `cleanup` when the scene stops, first (the test's own processes, before the broker). */
  defer(cleanup: () => unknown): void;
  /** Runs what was deferred (last first), kills the operators, stops the double and the broker. */
  stop(): Promise<void>;
}

/** A real broker process, the double serving Aspects, and a way to start operators against them. */
export async function startOperatorWorld(
  label: string,
  options: OperatorWorldOptions = {},
): Promise<OperatorWorld> {
  const db = await createTestDatabase(label);
  const adminToken = newAdminTokenValue();
  const brokerEnv = {
    NEXUS_SECRET_KEY: randomBytes(32).toString('base64'),
    // The tests poll the admin API; the broker's own limits are not what they are about.
    NEXUS_RATE_LIMITS: 'off',
    ...options.brokerEnv,
  };
  let broker = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: adminToken, env: brokerEnv });
  const port = broker.port;
  const work = await mkdtemp(path.join(tmpdir(), 'nexus-operator-e2e-'));
  const { double, kubeconfig } = await startAspectApi(work, { installCrd: options.installCrd });
  const stopControllers = (options.controllers ?? []).map((c) => double.controllers[c]());
  const operators: OperatorProcess[] = [];
  const processes: NexusProcess[] = []; // also those that never logged their metrics URL
  const deferred: (() => unknown)[] = [];

  const world: OperatorWorld = {
    db,
    get broker() {
      return broker;
    },
    adminToken,
    admin: adminClient(broker.url, adminToken),
    double,
    kubeconfig,
    work,
    operators,
    operatorEnv({ podName = DEFAULT_POD_NAME, env = {}, tokenFile } = {}) {
      return {
        // Pods here reach the broker where the operator does.
        NEXUS_URL: broker.url,
        ...(tokenFile ? { NEXUS_TOKEN_FILE: tokenFile } : { NEXUS_TOKEN: adminToken }),
        HOME: work,
        KUBECONFIG: kubeconfig,
        RUNTIME_IMAGE: 'nexus-runtime:test',
        POD_NAME: podName,
        POD_NAMESPACE: OPERATOR_NAMESPACE,
        LEASE_DURATION_S: '2',
        LOG_LEVEL: 'info',
        ...env,
      };
    },
    async startOperator(startOptions = {}) {
      const env = world.operatorEnv(startOptions);
      const podName = env.POD_NAME as string;
      const child = startNexusProcess(['operator', '--metrics-port', 'auto'], {
        url: env.NEXUS_URL as string,
        token: env.NEXUS_TOKEN ?? '',
        env,
      });
      processes.push(child);
      const metricsUrl = await child.metricsUrl(30_000);
      const operator: OperatorProcess = {
        podName,
        process: child,
        metricsUrl,
        reconciles: () => reconcileCount({ metricsUrl }),
      };
      operators.push(operator);
      if ((startOptions.until ?? 'leading') === 'leading') {
        await double.waitFor(() => world.leaseHolder() === podName, {
          timeoutMs: 30_000,
          what: `${podName} to hold the Lease`,
        });
        await child.waitForLog('informers synced', 30_000);
      }
      return operator;
    },
    async mintOperatorToken() {
      const { token } = await world.admin.post<{ token: string }>('/v1/admin/tokens', {
        kind: 'admin',
        name: 'nexus-operator',
      });
      return { token, file: await writeTokenFile(work, token) };
    },
    leaseHolder() {
      return (double.find(LEASE)?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
    },
    async stopBroker() {
      await broker.stop();
    },
    async restartBroker() {
      // The port was just freed by our own broker; nothing else on this host binds a fixed port.
      broker = await startBrokerProcess({
        databaseUrl: db.url,
        bootstrapToken: adminToken,
        env: brokerEnv,
        port,
      });
    },
    defer(cleanup) {
      deferred.push(cleanup);
    },
    async stop() {
      for (const cleanup of deferred.reverse()) await cleanup();
      await Promise.all(processes.map((p) => p.kill()));
      for (const stop of stopControllers) stop();
      await double.stop();
      await broker.stop();
      await db.drop();
      await rm(work, { recursive: true, force: true });
    },
  };
  return world;
}

/**
 * Starts the scene in a `beforeAll` (and one operator with `operator`'s options, unless it is
 * false) and stops it in an `afterAll`, printing the operators' logs and the double's requests
 * first when DEBUG_OPERATOR is set. What it returns reads through to the scene once the
 * `beforeAll` ran (a test file declares it before its own hooks).
 */
export function useOperatorWorld(
  label: string,
  options: OperatorWorldOptions & { operator?: OperatorOptions | false; timeoutMs?: number } = {},
): OperatorWorld & { readonly operator: OperatorProcess } {
  let world: OperatorWorld | undefined;
  let operator: OperatorProcess | undefined;
  const started = () => {
    if (!world) throw new Error(`${label}: the operator world starts in beforeAll`);
    return world;
  };
  beforeAll(async () => {
    world = await startOperatorWorld(label, options);
    if (options.operator !== false) operator = await world.startOperator(options.operator);
  }, options.timeoutMs ?? 120_000);
  afterAll(async () => {
    if (process.env.DEBUG_OPERATOR && world) printScene(world);
    await world?.stop();
  });
  return {
    get operator() {
      if (!operator) throw new Error(`${label}: no operator was started with the world`);
      return operator;
    },
    get db() {
      return started().db;
    },
    get broker() {
      return started().broker;
    },
    get adminToken() {
      return started().adminToken;
    },
    get admin() {
      return started().admin;
    },
    get double() {
      return started().double;
    },
    get kubeconfig() {
      return started().kubeconfig;
    },
    get work() {
      return started().work;
    },
    get operators() {
      return started().operators;
    },
    startOperator: (o) => started().startOperator(o),
    operatorEnv: (o) => started().operatorEnv(o),
    mintOperatorToken: () => started().mintOperatorToken(),
    leaseHolder: () => started().leaseHolder(),
    stopBroker: () => started().stopBroker(),
    restartBroker: () => started().restartBroker(),
    defer: (cleanup) => started().defer(cleanup),
    stop: () => started().stop(),
  };
}

/** The operators' output and the double's requests (but the Lease's), for a failure's diagnosis. */
function printScene(world: OperatorWorld): void {
  for (const o of world.operators) process.stderr.write(`--- ${o.podName}\n${o.process.logs()}\n`);
  const requests = world.double.requests();
  const t0 = requests[0]?.at ?? 0;
  for (const r of requests) {
    if (r.kind === 'Lease') continue;
    const object = `${r.kind} ${r.namespace}/${r.name}${r.subresource ? `/${r.subresource}` : ''}`;
    process.stderr.write(`REQ ${r.at - t0} ${r.method} ${object} ${r.query} ${r.status}\n`);
  }
}

/**
 * `nexus operator` with `env` over the scene's, as `nexus-operator-0`, once it leads: what the
 * lifecycle tests started with (kept for tests written against it).
 */
export function startOperatorProcess(
  world: OperatorWorld,
  env: Record<string, string> = {},
): Promise<OperatorProcess> {
  return world.startOperator({ env });
}
