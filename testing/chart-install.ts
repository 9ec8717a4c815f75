/**
 * What the chart's install test shares: the Kubernetes API double, the real `helm` against it with
 * its release records in Postgres (TOOLCHAIN.md: Helm's default Secret driver sends protobuf, which
 * the JSON-only double refuses), a second database for the real broker, and a record of every
 * change the double stored, in order, so the test can say what was created before what.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CHART_PATH, NAMESPACE, RELEASE, type KubeManifest } from './chart.js';
import { kubeconfigFor, startKubeDouble, type KubeDouble, type Obj } from './kube-double/index.js';
import { runHelm, type ToolRun } from './kube-tools.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';

export { CHART_PATH, NAMESPACE, RELEASE };

/** One change the double stored, in resourceVersion order. */
export interface Change {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  kind: string;
  namespace?: string;
  name: string;
  object: Obj;
}

export interface ChartWorld {
  double: KubeDouble;
  /** The broker's database (the chart's own Postgres pod is not run here). */
  brokerDb: TestDatabase;
  /** Helm's release records (HELM_DRIVER=sql). */
  releaseDb: TestDatabase;
  kubeconfig: string;
  work: string;
  changes: Change[];
  /** Runs the real helm against the double, with HOME and the helm folders inside `work`. */
  helm(args: string[], timeoutMs?: number): Promise<ToolRun>;
  stop(): Promise<void>;
}

export async function startChartWorld(label: string): Promise<ChartWorld> {
  const brokerDb = await createTestDatabase(`${label}_broker`);
  const releaseDb = await createTestDatabase(`${label}_releases`);
  const double = await startKubeDouble();
  const work = await mkdtemp(path.join(tmpdir(), 'nexus-chart-install-'));
  const kubeconfig = await kubeconfigFor(double, { dir: work });
  const changes: Change[] = [];
  const unsubscribe = double.onChange((event) =>
    changes.push({
      type: event.type as Change['type'],
      kind: event.object.kind,
      namespace: event.object.metadata.namespace,
      name: event.object.metadata.name ?? '',
      object: structuredClone(event.object),
    }),
  );
  const env = {
    HOME: work,
    HELM_CACHE_HOME: path.join(work, 'helm-cache'),
    HELM_CONFIG_HOME: path.join(work, 'helm-config'),
    HELM_DATA_HOME: path.join(work, 'helm-data'),
    KUBECONFIG: kubeconfig,
    HELM_DRIVER: 'sql',
    HELM_DRIVER_SQL_CONNECTION_STRING: `${releaseDb.url}?sslmode=disable`,
  };
  return {
    double,
    brokerDb,
    releaseDb,
    kubeconfig,
    work,
    changes,
    helm: (args, timeoutMs = 120_000) => runHelm(args, { env, timeoutMs }),
    async stop() {
      unsubscribe();
      await double.stop();
      await brokerDb.drop();
      await releaseDb.drop();
      await rm(work, { recursive: true, force: true });
    },
  };
}

/** The data of a Secret in the double, decoded; empty when it is absent. */
export function secretData(double: KubeDouble, name: string, namespace = NAMESPACE): Record<string, string> {
  const secret = double.find({ kind: 'Secret', namespace, name });
  const data = (secret?.data ?? {}) as Record<string, string>;
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
}

/** Whether a rendered object is a hook (Helm creates hooks around the release, not in it). */
export const isHook = (o: KubeManifest): boolean => Boolean(o.metadata.annotations?.['helm.sh/hook']);

export const refOf = (o: { kind: string; metadata: { namespace?: string; name?: string } }): string =>
  `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;

/** The index of the first change matching, or -1. */
export function changeIndex(changes: Change[], match: Partial<Omit<Change, 'object'>>): number {
  return changes.findIndex((c) =>
    Object.entries(match).every(([key, value]) => c[key as keyof Change] === value),
  );
}

/** Whether a CRD's stored form says Established. */
export function established(crd: Obj | undefined): boolean {
  const conditions = (crd?.status as { conditions?: { type: string; status: string }[] } | undefined)
    ?.conditions;
  return conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
}

/** A free local port: pods share one host here, so a container cannot have its fixed port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

/** Every top-level field but metadata and status: what the API server stores as it was sent. */
export const bodyOf = (o: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(o).filter(([key]) => key !== 'metadata' && key !== 'status'));

/** JSON with sorted keys: equal for the same content whatever the key order or prototype. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}
const sameContent = (a: unknown, b: unknown) => canonical(a) === canonical(b);

const lookupRef = (o: KubeManifest) => ({
  kind: o.kind,
  apiVersion: o.apiVersion,
  namespace: o.metadata.namespace,
  name: o.metadata.name,
});

/**
 * How the double's copies of rendered objects differ from them: missing, other labels, no Helm
 * ownership annotations, another body (a Secret's generated values aside: its keys are compared).
 */
export function storedMismatches(double: KubeDouble, objects: KubeManifest[]): string[] {
  const problems: string[] = [];
  for (const object of objects) {
    const at = refOf(object);
    const stored = double.find(lookupRef(object));
    if (!stored) {
      problems.push(`${at}: not created`);
      continue;
    }
    if (!sameContent(stored.metadata.labels, object.metadata.labels)) problems.push(`${at}: labels`);
    const annotations = stored.metadata.annotations ?? {};
    const wanted = {
      ...object.metadata.annotations,
      'meta.helm.sh/release-name': RELEASE,
      'meta.helm.sh/release-namespace': NAMESPACE,
    };
    for (const [key, value] of Object.entries(wanted))
      if (annotations[key] !== value) problems.push(`${at}: annotation ${key}`);
    const same =
      object.kind === 'Secret'
        ? sameContent(Object.keys(stored.data ?? {}).sort(), Object.keys(object.data ?? {}).sort())
        : sameContent(bodyOf(stored), bodyOf(object));
    if (!same) problems.push(`${at}: stored ${JSON.stringify(bodyOf(stored))}`);
  }
  return problems;
}

/** Which of the objects the double holds. */
export const presentIn = (double: KubeDouble, objects: KubeManifest[]): string[] =>
  objects.filter((o) => double.find(lookupRef(o)) !== undefined).map(refOf);

/** Every object in the double that Helm marked as the release's. */
export function releaseObjectsIn(double: KubeDouble): Obj[] {
  return double.resources
    .all()
    .flatMap((t) =>
      double.list({ kind: t.kind, apiVersion: t.group ? `${t.group}/${t.version}` : t.version }),
    )
    .filter((o) => o.metadata.annotations?.['meta.helm.sh/release-name'] === RELEASE);
}
