/**
 * A small cluster for the operator's fault tests (QUALITY faults 12–14): a real broker process on
 * its own Postgres database, the Kubernetes API double with the Aspect CRD, and `nexus operator`
 * replicas as real processes (B.43), each with its own POD_NAME, competing for one Lease.
 *
 * The broker can be stopped and started again on the same port, so the operators' NEXUS_URL keeps
 * working across a broker outage (fault 14).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BrokerClient } from '../client/index.js';
import { startNexusProcess, type NexusProcess } from './agent-process.js';
import { installAspectCrd } from './aspect-crd.js';
import { adminClient } from './aspects.js';
import { newAdminTokenValue, startBrokerProcess, type BrokerProcess } from './broker-process.js';
import { kubeconfigFor, startKubeDouble, type KubeDouble, type Obj } from './kube-double/index.js';
import { parseMetrics } from './metrics.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import { waitUntil } from './wait.js';

export const OPERATOR_NAMESPACE = 'nexus-system';
export const LEASE = { kind: 'Lease', namespace: OPERATOR_NAMESPACE, name: 'nexus-operator' } as const;

export interface BrokerTokenRow {
  id: string;
  name?: string;
  kind: string;
  revoked_at?: string | null;
}

export interface OperatorCluster {
  db: TestDatabase;
  double: KubeDouble;
  broker: BrokerProcess;
  /** The bootstrap admin token: the operators act under it. */
  adminToken: string;
  admin: BrokerClient;
  /** Starts `nexus operator` as POD_NAME `podName`; resolves once it logged its metrics URL. */
  startOperator(podName: string, env?: Record<string, string>): Promise<OperatorReplica>;
  /** The Lease's holderIdentity ('' or undefined when free). */
  leaseHolder(): string | undefined;
  /** SIGTERMs the broker and waits for it to exit. */
  stopBroker(): Promise<void>;
  /** Starts a broker again on the same database and the same port. */
  restartBroker(): Promise<void>;
  /** Every token the broker lists for the aspect `name`. */
  tokens(name: string): Promise<BrokerTokenRow[]>;
  stop(): Promise<void>;
}

export interface OperatorReplica {
  podName: string;
  process: NexusProcess;
  metricsUrl: string;
  /** `nexus_operator_reconcile_total`, summed over results. */
  reconciles(): Promise<number>;
}

export async function startOperatorCluster(label: string): Promise<OperatorCluster> {
  const db = await createTestDatabase(label);
  const adminToken = newAdminTokenValue();
  const brokerEnv = { NEXUS_RATE_LIMITS: 'off' };
  let broker = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: adminToken, env: brokerEnv });
  const port = broker.port;
  const double = await startKubeDouble();
  installAspectCrd(double);
  const work = await mkdtemp(path.join(tmpdir(), 'nexus-operator-faults-'));
  const kubeconfig = await kubeconfigFor(double, { dir: work });
  const replicas: OperatorReplica[] = [];
  const admin = adminClient(broker.url, adminToken);

  const cluster: OperatorCluster = {
    db,
    double,
    get broker() {
      return broker;
    },
    adminToken,
    admin,
    async startOperator(podName, env = {}) {
      const process = startNexusProcess(['operator', '--metrics-port', 'auto'], {
        url: broker.url,
        token: adminToken,
        env: {
          HOME: work,
          KUBECONFIG: kubeconfig,
          RUNTIME_IMAGE: 'nexus-runtime:test',
          POD_NAME: podName,
          POD_NAMESPACE: OPERATOR_NAMESPACE,
          LEASE_DURATION_S: '2',
          ...env,
        },
      });
      const metricsUrl = await process.metricsUrl(30_000);
      const replica: OperatorReplica = {
        podName,
        process,
        metricsUrl,
        async reconciles() {
          const scrape = parseMetrics(await (await fetch(metricsUrl)).text());
          return ['ok', 'requeue', 'error']
            .map((result) => scrape.sample('nexus_operator_reconcile_total', { result }) ?? 0)
            .reduce((a, b) => a + b, 0);
        },
      };
      replicas.push(replica);
      return replica;
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
    async tokens(name) {
      const { tokens } = await admin.get<{ tokens: BrokerTokenRow[] }>(
        `/v1/admin/tokens?aspect=${encodeURIComponent(name)}`,
      );
      return tokens;
    },
    async stop() {
      await Promise.all(replicas.map((r) => r.process.kill()));
      await double.stop();
      await broker.kill();
      await db.drop();
      await rm(work, { recursive: true, force: true });
    },
  };
  return cluster;
}

export interface Converged {
  tokenId: string;
  statefulSet: Obj;
}

/**
 * Waits until the Aspect `namespace/name` has converged: its four owned objects exist, exactly one
 * of each labelled with it; the broker holds exactly one live token named `operator:NS/NAME`; the
 * StatefulSet records that token's id (B.94); the Secret holds a token the broker accepts; and the
 * status has observed the current generation.
 */
export async function waitConverged(
  cluster: OperatorCluster,
  namespace: string,
  name: string,
  timeoutMs = 45_000,
): Promise<Converged> {
  const { double } = cluster;
  const tokenName = `operator:${namespace}/${name}`;
  let last = '';
  try {
    const { value } = await waitUntil(
      async () => {
        const sts = double.find({ kind: 'StatefulSet', namespace, name });
        const aspect = double.find({ kind: 'Aspect', namespace, name });
        const live = (await cluster.tokens(name)).filter((t) => t.name === tokenName && !t.revoked_at);
        const recorded = sts?.metadata.annotations?.['nexus.dev/token-id'];
        const status = aspect?.status as { observedGeneration?: number } | undefined;
        last = JSON.stringify({ live: live.map((t) => t.id), recorded, status });
        if (!sts || live.length !== 1 || recorded !== live[0]?.id) return undefined;
        if (status?.observedGeneration !== aspect?.metadata.generation) return undefined;
        if (!(await secretTokenAccepted(cluster, namespace, name))) return undefined;
        return { tokenId: recorded as string, statefulSet: sts };
      },
      { timeoutMs, intervalMs: 100, what: `${namespace}/${name} to converge` },
    );
    return value;
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen ${last}`, { cause: err });
  }
}

/** Exactly one object of each owned kind carries the aspect's label. */
export function ownedCounts(double: KubeDouble, namespace: string, name: string): Record<string, number> {
  const labelSelector = `nexus.dev/aspect=${name}`;
  return Object.fromEntries(
    ['PersistentVolumeClaim', 'Secret', 'ConfigMap', 'StatefulSet'].map((kind) => [
      kind,
      double.list({ kind, namespace, labelSelector }).length,
    ]),
  );
}

/** The token Secret NAME-token holds, as the runtime pod would read it; undefined when absent. */
export function secretToken(cluster: OperatorCluster, namespace: string, name: string): string | undefined {
  const secret = cluster.double.find({ kind: 'Secret', namespace, name: `${name}-token` });
  const encoded = (secret?.data as { token?: string } | undefined)?.token;
  return encoded ? Buffer.from(encoded, 'base64').toString('utf8') : undefined;
}

/** Whether the token in Secret NAME-token is one the broker accepts (live). */
export async function secretTokenAccepted(
  cluster: OperatorCluster,
  namespace: string,
  name: string,
): Promise<boolean> {
  const token = secretToken(cluster, namespace, name);
  if (!token) return false;
  const response = await fetch(`${cluster.broker.url}/v1/aspects`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await response.arrayBuffer();
  return response.status === 200;
}
