/**
 * What the operator's end-to-end tests share: a real broker process on its own database, the
 * Kubernetes API double with the Aspect CRD, `nexus operator` as a real process, and readers of
 * what they say (an Aspect's conditions, the broker's tokens, grants and roster). Also a recorder
 * of every pod spec that reaches the double, for B.101's restricted check.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BrokerClient } from '../client/index.js';
import { startNexusProcess, type NexusProcess } from './agent-process.js';
import { adminClient } from './aspects.js';
import { installAspectCrd } from './aspect-crd.js';
import { newAdminTokenValue, startBrokerProcess, type BrokerProcess } from './broker-process.js';
import { kubeconfigFor, startKubeDouble, type KubeDouble, type Obj } from './kube-double/index.js';
import { scrapeMetrics } from './metrics.js';
import { restrictedViolations } from './pod-security.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';

export interface OperatorWorld {
  db: TestDatabase;
  broker: BrokerProcess;
  /** The broker's bootstrap admin token: the operator acts under it (its name is `bootstrap`). */
  adminToken: string;
  admin: BrokerClient;
  double: KubeDouble;
  /** A folder for the kubeconfig and the like. */
  work: string;
  stop(): Promise<void>;
}

/** A real broker process (credentials on: NEXUS_SECRET_KEY) and the double serving Aspects. */
export async function startOperatorWorld(label: string): Promise<OperatorWorld> {
  const db = await createTestDatabase(label);
  const adminToken = newAdminTokenValue();
  const broker = await startBrokerProcess({
    databaseUrl: db.url,
    bootstrapToken: adminToken,
    env: { NEXUS_SECRET_KEY: randomBytes(32).toString('base64') },
  });
  const double = await startKubeDouble();
  installAspectCrd(double);
  const work = await mkdtemp(path.join(tmpdir(), 'nexus-operator-e2e-'));
  return {
    db,
    broker,
    adminToken,
    admin: adminClient(broker.url, adminToken),
    double,
    work,
    async stop() {
      await double.stop();
      await broker.stop();
      await db.drop();
      await rm(work, { recursive: true, force: true });
    },
  };
}

export interface OperatorProcess {
  process: NexusProcess;
  metricsUrl: string;
}

/**
 * `nexus operator --metrics-port auto` as a user runs it: the broker's URL as NEXUS_URL (pods here
 * reach the broker where the operator does), the bootstrap token as NEXUS_TOKEN, the double's
 * kubeconfig. Resolves once it leads (the Lease is its) and logs its metrics URL.
 */
export async function startOperatorProcess(
  world: OperatorWorld,
  env: Record<string, string> = {},
): Promise<OperatorProcess> {
  const process = startNexusProcess(['operator', '--metrics-port', 'auto'], {
    url: world.broker.url,
    token: world.adminToken,
    env: {
      HOME: world.work,
      KUBECONFIG: await kubeconfigFor(world.double, { dir: world.work }),
      RUNTIME_IMAGE: 'nexus-runtime:test',
      POD_NAME: 'nexus-operator-0',
      POD_NAMESPACE: 'nexus-system',
      LEASE_DURATION_S: '2',
      ...env,
    },
  });
  const metricsUrl = await process.metricsUrl(30_000);
  await world.double.waitFor(
    () => {
      const lease = world.double.find({ kind: 'Lease', namespace: 'nexus-system', name: 'nexus-operator' });
      return (lease?.spec as { holderIdentity?: string } | undefined)?.holderIdentity === 'nexus-operator-0';
    },
    { timeoutMs: 30_000, what: 'the operator to hold its Lease' },
  );
  await process.waitForLog('informers synced', 30_000);
  return { process, metricsUrl };
}

/** Reconciles the operator has finished, whatever their result (its own metrics). */
export async function reconcileCount(operator: OperatorProcess): Promise<number> {
  const metrics = await scrapeMetrics(operator.metricsUrl);
  return ['ok', 'requeue', 'error'].reduce(
    (sum, result) => sum + (metrics.sample('nexus_operator_reconcile_total', { result }) ?? 0),
    0,
  );
}

/**
 * How many expected-roster reports the broker has audited: the operator forces one at every
 * resync (RESYNC_S), right after it queues every Aspect, so two more mean a resync came and went.
 */
export async function rosterReports(admin: BrokerClient): Promise<number> {
  const { entries } = await admin.get<{ entries: unknown[] }>('/v1/audit?action=roster.expect&limit=1000');
  return entries.length;
}

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
}

export interface AspectStatusView {
  phase?: string;
  observedGeneration?: number;
  registered?: boolean;
  conditions?: Condition[];
}

export const statusOf = (aspect: Obj | undefined): AspectStatusView =>
  (aspect?.status ?? {}) as AspectStatusView;

export const conditionOf = (aspect: Obj | undefined, type: string): Condition | undefined =>
  statusOf(aspect).conditions?.find((c) => c.type === type);

/** Events the operator wrote about an Aspect. */
export function eventsAbout(double: KubeDouble, namespace: string, name: string): Obj[] {
  return double
    .list({ kind: 'Event', apiVersion: 'v1', namespace })
    .filter((e) => (e.involvedObject as { kind?: string; name?: string } | undefined)?.name === name)
    .filter((e) => (e.involvedObject as { kind?: string }).kind === 'Aspect');
}

export interface BrokerTokenRow {
  id: string;
  name?: string;
  aspect?: string;
  revoked_at?: string | null;
}

export async function tokensFor(admin: BrokerClient, aspect: string): Promise<BrokerTokenRow[]> {
  return (await admin.get<{ tokens: BrokerTokenRow[] }>(`/v1/admin/tokens?aspect=${aspect}`)).tokens;
}

export async function grantsOf(
  admin: BrokerClient,
  credential: string,
): Promise<{ aspect: string; granted_by: string }[]> {
  const { credentials } = await admin.get<{
    credentials: { name: string; grants: { aspect: string; granted_by: string }[] }[];
  }>('/v1/credentials');
  return credentials.find((c) => c.name === credential)?.grants ?? [];
}

export async function rosterStatus(admin: BrokerClient, aspect: string): Promise<string | undefined> {
  const { aspects } = await admin.get<{ aspects: { name: string; status: string }[] }>('/v1/aspects');
  return aspects.find((a) => a.name === aspect)?.status;
}

/**
 * Records every pod spec the double stores (StatefulSet templates, the operator's; pods, the
 * stand-in controller's copies of them) with the restricted profile's violations of each (B.101).
 */
export function recordPodSpecs(double: KubeDouble): {
  checked: () => number;
  violations: () => string[];
  stop: () => void;
} {
  let checked = 0;
  const violations: string[] = [];
  const stop = double.onChange((event) => {
    if (event.type === 'DELETED') return;
    const { plural } = event.resource;
    const object = event.object;
    const where = `${object.kind} ${object.metadata.namespace}/${object.metadata.name}`;
    let spec: unknown;
    let annotations: Record<string, string> | undefined;
    if (plural === 'statefulsets') {
      const template = (
        object.spec as { template?: { spec?: unknown; metadata?: { annotations?: Record<string, string> } } }
      )?.template;
      spec = template?.spec;
      annotations = template?.metadata?.annotations;
    } else if (plural === 'pods') {
      spec = object.spec;
      annotations = object.metadata.annotations;
    } else return;
    checked++;
    for (const v of restrictedViolations((spec ?? {}) as Record<string, unknown>, annotations ?? {}))
      violations.push(`${where}: ${v}`);
  });
  return { checked: () => checked, violations: () => [...violations], stop };
}
