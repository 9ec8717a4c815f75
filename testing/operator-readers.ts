/**
 * What the operator's end-to-end tests read of the scene (testing/operator-e2e.ts): an Aspect's
 * status and conditions, the Events about it, the objects it owns and its token Secret, the
 * broker's tokens, grants and roster, the operator's own metrics, and a recorder of every pod spec
 * that reaches the double (B.101's restricted check).
 */
import type { BrokerClient } from '../client/index.js';
import type { KubeDouble, Obj } from './kube-double/index.js';
import { scrapeMetrics } from './metrics.js';
import { restrictedViolations } from './pod-security.js';
import { waitUntil } from './wait.js';

/** The parts of the scene the readers look at. */
export interface SceneView {
  double: KubeDouble;
  admin: BrokerClient;
  broker: { url: string };
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

/** Reconciles an operator has finished, whatever their result (its own metrics). */
export async function reconcileCount(operator: { metricsUrl: string }): Promise<number> {
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

export interface BrokerTokenRow {
  id: string;
  name?: string;
  kind?: string;
  aspect?: string;
  revoked_at?: string | null;
}

/** Every token the broker lists for the aspect `aspect`, revoked ones too. */
export async function tokensFor(admin: BrokerClient, aspect: string): Promise<BrokerTokenRow[]> {
  return (
    await admin.get<{ tokens: BrokerTokenRow[] }>(`/v1/admin/tokens?aspect=${encodeURIComponent(aspect)}`)
  ).tokens;
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

/** How many objects of each owned kind carry the aspect's label (one each once converged). */
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
export function secretToken(scene: SceneView, namespace: string, name: string): string | undefined {
  const secret = scene.double.find({ kind: 'Secret', namespace, name: `${name}-token` });
  const encoded = (secret?.data as { token?: string } | undefined)?.token;
  return encoded ? Buffer.from(encoded, 'base64').toString('utf8') : undefined;
}

/** Whether the token in Secret NAME-token is one the broker accepts (live). */
export async function secretTokenAccepted(
  scene: SceneView,
  namespace: string,
  name: string,
): Promise<boolean> {
  const token = secretToken(scene, namespace, name);
  if (!token) return false;
  const response = await fetch(`${scene.broker.url}/v1/aspects`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await response.arrayBuffer();
  return response.status === 200;
}

export interface Converged {
  tokenId: string;
  statefulSet: Obj;
}

/**
 * Waits until the Aspect `namespace/name` has converged: the broker holds exactly one live token
 * named `operator:NS/NAME`; the StatefulSet records that token's id (B.94); the Secret holds a
 * token the broker accepts; and the status has observed the current generation.
 */
export async function waitConverged(
  scene: SceneView,
  namespace: string,
  name: string,
  timeoutMs = 45_000,
): Promise<Converged> {
  const { double } = scene;
  const tokenName = `operator:${namespace}/${name}`;
  let last = '';
  try {
    const { value } = await waitUntil(
      async () => {
        const sts = double.find({ kind: 'StatefulSet', namespace, name });
        const aspect = double.find({ kind: 'Aspect', namespace, name });
        const live = (await tokensFor(scene.admin, name)).filter(
          (t) => t.name === tokenName && !t.revoked_at,
        );
        const recorded = sts?.metadata.annotations?.['nexus.dev/token-id'];
        const status = aspect?.status as { observedGeneration?: number } | undefined;
        last = JSON.stringify({ live: live.map((t) => t.id), recorded, status });
        if (!sts || live.length !== 1 || recorded !== live[0]?.id) return undefined;
        if (status?.observedGeneration !== aspect?.metadata.generation) return undefined;
        if (!(await secretTokenAccepted(scene, namespace, name))) return undefined;
        return { tokenId: recorded as string, statefulSet: sts };
      },
      { timeoutMs, intervalMs: 100, what: `${namespace}/${name} to converge` },
    );
    return value;
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen ${last}`, { cause: err });
  }
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
