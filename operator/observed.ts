/**
 * The `Observed` snapshot of one Aspect: its owned objects and referenced ConfigMaps from the
 * informer caches (never a GET, B.31), and the broker's view from three admin calls (B.25, B.95).
 * The broker being unavailable is a fact to report, not a failure here: `broker` is then left out
 * and the reconcile keeps the phase and says why (B.63).
 */
import { BrokerUnavailable } from './broker-client.js';
import { referencedConfigMapNames } from './documents.js';
import { aspectTokenName } from './meta.js';
import type { Informers } from './kube/informers.js';
import { objectNames, type AspectObject, type BrokerAdmin, type BrokerView, type Observed } from './types.js';

export interface ObserveDeps {
  informers: Pick<Informers, 'get'>;
  broker: BrokerAdmin;
  /** The operator's own token name: the `granted_by` of its grants (B.95). */
  grantedBy: string;
}

export interface Observation {
  observed: Observed;
  /** Why `observed.broker` is missing. */
  brokerError?: Error;
}

/** `namespace/name` of an Aspect: the work queue's key. */
export const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`;

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** The snapshot for `key`, or undefined when the Aspect is no longer in the cache. */
export async function observe(key: string, deps: ObserveDeps): Promise<Observation | undefined> {
  const { namespace, name } = splitKey(key);
  const aspect = deps.informers.get<AspectObject>('Aspect', namespace, name);
  if (!aspect) return undefined;
  const names = objectNames(name);
  const get = (kind: Parameters<Informers['get']>[0], objectName: string) =>
    deps.informers.get(kind, namespace, objectName);
  const observed: Observed = {
    aspect,
    referencedConfigMaps: new Map(
      referencedConfigMapNames(aspect.spec).map((cm) => [cm, get('ConfigMap', cm)] as const),
    ),
  };
  const pvc = get('PersistentVolumeClaim', names.pvc);
  const configMap = get('ConfigMap', names.configMap);
  const statefulSet = get('StatefulSet', names.statefulSet);
  const pod = get('Pod', names.pod);
  if (pvc) observed.pvc = pvc;
  if (configMap) observed.configMap = configMap;
  if (statefulSet) observed.statefulSet = statefulSet;
  if (pod) observed.pod = pod;
  try {
    observed.broker = await brokerView(aspect, deps);
    return { observed };
  } catch (err) {
    const brokerError = err instanceof Error ? err : new Error(String(err));
    observed.brokerError = brokerError.message;
    return { observed, brokerError };
  }
}

async function brokerView(aspect: AspectObject, deps: ObserveDeps): Promise<BrokerView> {
  const name = aspect.metadata.name;
  const own = aspectTokenName(aspect);
  const [tokens, roster, grants] = await Promise.all([
    deps.broker.listTokens({ aspect: name, kind: 'aspect' }),
    deps.broker.rosterEntry(name),
    deps.broker.grantsTo(name),
  ]);
  return {
    ownTokens: tokens.filter((t) => t.name === own),
    foreignTokenNames: [
      ...new Set(
        tokens.filter((t) => !t.revoked_at && t.name && t.name !== own).map((t) => t.name as string),
      ),
    ].sort(),
    ...(roster ? { rosterStatus: roster.status } : {}),
    ...(roster?.last_heartbeat_at ? { lastHeartbeat: roster.last_heartbeat_at } : {}),
    grantsHeld: [...new Set(grants.map((g) => g.credential))].sort(),
    grantsByOperator: grants
      .filter((g) => g.grantedBy === deps.grantedBy)
      .map((g) => g.credential)
      .sort(),
  };
}

/** Whether a failure to observe the broker is an outage (counted) rather than a refusal. */
export const isOutage = (err: unknown): boolean => err instanceof BrokerUnavailable;
