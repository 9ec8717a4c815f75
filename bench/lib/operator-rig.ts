/**
 * What the operator benchmarks share (SPEC B.64): a real broker process, the Kubernetes API double
 * in this process, `nexus operator` as a process of its own (so its RSS is its own), the runtime's
 * registration simulated, and a tracker of when each Aspect has converged.
 *
 * Simulated registration: a runtime pod starts once its StatefulSet exists and registers with the
 * token in its Secret. Here no pod runs; when a StatefulSet appears (or records another token id),
 * the rig reads the token from the Secret in the double and registers the aspect at the broker with
 * it, as the runtime would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrokerClient } from '../../client/index.js';
import { ASPECT_LABEL, TOKEN_ID_ANNOTATION, objectNames } from '../../operator/types.js';
import { NEXUS_BIN, registerBody, scrapeMetrics, type Scrape } from '../../testing/index.js';
import type { KubeDouble, Obj } from '../../testing/kube-double/index.js';
import { startAspectApi, writeTokenFile } from '../../testing/operator-e2e.js';
import { rssMb, type Scope } from './setup.js';

const GC_PRELOAD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'gc-signal.mjs');

/** Kinds whose writes are not the Aspects' own: leader election and Events (B.64 counts neither). */
export const NOT_PER_ASPECT = new Set(['Lease', 'Event']);

export interface OperatorProcess {
  pid: number;
  metricsUrl: string;
  healthUrl: string;
  scrape(): Promise<Scrape>;
  /** The sum of `nexus_operator_reconcile_total` over its results. */
  reconciles(): Promise<number>;
  /** Forces a full GC in the process (SIGUSR2 to the preload) and returns VmRSS in MB after it. */
  rssAfterGc(): Promise<{ rss: number; heapUsedMb: number }>;
  /** The last 64 KiB of its output, for a failure message. */
  output(): string;
  stop(): Promise<void>;
}

export interface OperatorProcessOptions {
  kubeconfig: string;
  brokerUrl: string;
  tokenFile: string;
  env?: Record<string, string>;
}

/** Starts `nexus operator` (with --expose-gc and the GC preload) and waits until it leads and is ready. */
export async function startOperatorProcess(options: OperatorProcessOptions): Promise<OperatorProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--expose-gc', '--import', GC_PRELOAD, NEXUS_BIN, 'operator', '--metrics-port', 'auto'],
    {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: path.dirname(options.kubeconfig),
        KUBECONFIG: options.kubeconfig,
        RUNTIME_IMAGE: 'nexus-runtime:bench',
        NEXUS_URL: 'http://nexus-broker.nexus-system:7888',
        OPERATOR_BROKER_URL: options.brokerUrl,
        NEXUS_TOKEN_FILE: options.tokenFile,
        POD_NAME: 'nexus-operator-0',
        POD_NAMESPACE: 'nexus-system',
        LOG_LEVEL: 'info',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-65_536);
    for (const listener of [...listeners]) listener();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const waitForOutput = <T>(match: () => T | undefined, what: string, timeoutMs = 60_000) =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        const value = match();
        if (value === undefined) return;
        clearTimeout(timer);
        listeners.delete(check);
        resolve(value);
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`the operator did not ${what} within ${timeoutMs} ms:\n${output}`));
      }, timeoutMs);
      listeners.add(check);
      check();
    });

  const metricsUrl = await waitForOutput(
    () => /"metricsUrl":"([^"]+)"/.exec(output)?.[1],
    'log its metrics URL',
  );
  const healthUrl = metricsUrl.replace(/\/metrics$/, '');
  const scrape = () => scrapeMetrics(metricsUrl);
  const startedAt = Date.now();
  for (;;) {
    const ready = await fetch(`${healthUrl}/readyz`).then(async (r) => r.status === 200 && (await r.text()));
    if (ready && ready.includes('leading')) break;
    if (Date.now() - startedAt > 60_000) throw new Error(`the operator did not lead within 60 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const pid = child.pid as number;
  let gcCount = 0;
  return {
    pid,
    metricsUrl,
    healthUrl,
    scrape,
    async reconciles() {
      const metrics = await scrape();
      return metrics
        .labelSets('nexus_operator_reconcile_total')
        .reduce((sum, labels) => sum + (metrics.sample('nexus_operator_reconcile_total', labels) ?? 0), 0);
    },
    async rssAfterGc() {
      const n = ++gcCount;
      const seen = () => [...output.matchAll(/\{"gcSignal":"done","heapUsed":(\d+)/g)];
      const before = seen().length;
      child.kill('SIGUSR2');
      const heapUsed = await waitForOutput(
        () => (seen().length > before ? Number(seen().at(-1)?.[1]) : undefined),
        `answer GC request ${n}`,
        30_000,
      );
      return { rss: rssMb(pid), heapUsedMb: heapUsed / 2 ** 20 };
    },
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * What both operator benchmarks start from, closed with `scope`: a broker on its own database, an
 * admin token `nexus-operator` in a token file, and the API double serving Aspects (a short
 * history: it lives in this process, and no watch here needs a long replay). `operator` is what
 * `startOperatorProcess` needs besides its settings.
 */
export async function startOperatorBench(
  scope: Scope,
  label: string,
): Promise<{ brokerUrl: string; double: KubeDouble; operator: Omit<OperatorProcessOptions, 'env'> }> {
  const db = await scope.database(label);
  // Registrations are simulated once: no heartbeats follow, so the roster must not go stale.
  const { replicas, admin } = await scope.brokers(db, 1, { NEXUS_STALE_S: '3600' });
  const brokerUrl = (replicas[0] as (typeof replicas)[0]).url;
  const { token } = await admin.post<{ token: string }>('/v1/admin/tokens', {
    kind: 'admin',
    name: 'nexus-operator',
  });
  const work = await mkdtemp(path.join(tmpdir(), 'nexus-bench-operator-'));
  scope.defer(() => rm(work, { recursive: true, force: true }));
  const { double, kubeconfig } = await startAspectApi(work, { historyLimit: 2_000 });
  scope.defer(() => double.stop());
  return {
    brokerUrl,
    double,
    operator: { kubeconfig, brokerUrl, tokenFile: await writeTokenFile(work, token) },
  };
}

/**
 * Plays the runtime of every Aspect in `namespace`: registers it at the broker with the token of
 * its Secret once its StatefulSet records a token id (again when the id changes). Returns the stop.
 */
export function simulateRegistrations(
  double: KubeDouble,
  brokerUrl: string,
  namespace: string,
  counts: { registered: number; failed: number } = { registered: 0, failed: 0 },
): () => void {
  const registeredWith = new Map<string, string>();
  const inFlight = new Set<string>();
  const register = async (name: string, tokenId: string): Promise<void> => {
    inFlight.add(name);
    try {
      const secret = double.find({ kind: 'Secret', namespace, name: objectNames(name).secret });
      const encoded = (secret?.data as { token?: string } | undefined)?.token;
      if (!encoded) return;
      const token = Buffer.from(encoded, 'base64').toString('utf8');
      await new BrokerClient({ url: brokerUrl, token }).post(
        '/v1/aspects/register',
        registerBody(name, randomUUID()),
      );
      registeredWith.set(name, tokenId);
      counts.registered++;
    } catch {
      counts.failed++; // a token rotated under us: the next StatefulSet change tries again
    } finally {
      inFlight.delete(name);
    }
  };
  const consider = (object: Obj) => {
    if (object.kind !== 'StatefulSet' || object.metadata.namespace !== namespace) return;
    const name = object.metadata.name ?? '';
    const tokenId = object.metadata.annotations?.[TOKEN_ID_ANNOTATION];
    if (!tokenId || registeredWith.get(name) === tokenId || inFlight.has(name)) return;
    void register(name, tokenId);
  };
  for (const sts of double.list({ kind: 'StatefulSet', namespace })) consider(sts);
  return double.onChange((event) => {
    if (event.type !== 'DELETED') consider(event.object);
  });
}

/** Converged per B.64: owned objects there, status up to date with the generation, Registered. */
export function isConverged(double: KubeDouble, namespace: string, name: string): boolean {
  const aspect = double.find({ kind: 'Aspect', namespace, name });
  if (!aspect) return false;
  const status = aspect.status as
    | {
        observedGeneration?: number;
        registered?: boolean;
        conditions?: { type: string; status: string; observedGeneration?: number }[];
      }
    | undefined;
  if (status?.observedGeneration !== aspect.metadata.generation || status?.registered !== true) return false;
  if (!status.conditions?.some((c) => c.type === 'Registered' && c.status === 'True')) return false;
  const names = objectNames(name);
  return (
    Boolean(double.find({ kind: 'PersistentVolumeClaim', namespace, name: names.pvc })) &&
    Boolean(double.find({ kind: 'ConfigMap', namespace, name: names.configMap })) &&
    Boolean(double.find({ kind: 'StatefulSet', namespace, name: names.statefulSet })) &&
    Boolean(double.find({ kind: 'Secret', namespace, name: names.secret }))
  );
}

/**
 * Records when each named Aspect first converges (ms since `start`), checking an Aspect again on
 * any change to it or its objects. `done` resolves when all have.
 */
export function trackConvergence(
  double: KubeDouble,
  namespace: string,
  names: readonly string[],
  start: number,
  timeoutMs: number,
): { convergedAt: Map<string, number>; done: Promise<void>; stop: () => void } {
  const pending = new Set(names);
  const convergedAt = new Map<string, number>();
  const ownerOf = (object: Obj): string | undefined =>
    object.metadata.labels?.[ASPECT_LABEL] ?? (object.kind === 'Aspect' ? object.metadata.name : undefined);
  let resolve: () => void = () => undefined;
  let reject: (err: Error) => void = () => undefined;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const check = (name: string) => {
    if (!pending.has(name) || !isConverged(double, namespace, name)) return;
    pending.delete(name);
    convergedAt.set(name, performance.now() - start);
    if (pending.size === 0) resolve();
  };
  const timer = setTimeout(
    () =>
      reject(
        new Error(
          `${pending.size} of ${names.length} Aspects not converged after ${timeoutMs} ms (e.g. ${[...pending].slice(0, 3).join(', ')})`,
        ),
      ),
    timeoutMs,
  );
  const unsubscribe = double.onChange((event) => {
    if (event.object.metadata.namespace !== namespace) return;
    const owner = ownerOf(event.object);
    if (owner) check(owner);
  });
  for (const name of names) check(name);
  const stop = () => {
    clearTimeout(timer);
    unsubscribe();
  };
  void done.then(stop, stop);
  return { convergedAt, done, stop };
}
