/**
 * The seams of the operator (SPEC section 11): the pure middle (desired state, plan, status)
 * reads an `Observed` snapshot taken from informer caches and the broker, and acts only through
 * `KubeWriter` and `BrokerAdmin`, whose real implementations live at the edges (operator/kube/,
 * operator/broker-client.ts).
 */
import type { AspectStatus } from '../protocol/aspect-resource.js';

/** Any Kubernetes object as JSON: what informers hold and merge patches change. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  deletionTimestamp?: string;
  creationTimestamp?: string;
}

/** An Aspect as read from the API (spec unparsed: it may be anything a client wrote). */
export interface AspectObject extends KubeObject {
  spec?: unknown;
  status?: AspectStatus;
}

/** Where an object lives: enough to get, patch or delete it. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
}

/** Everything one reconcile of one Aspect looks at, read from caches and the broker. */
export interface Observed {
  aspect: AspectObject;
  pvc?: KubeObject;
  configMap?: KubeObject;
  statefulSet?: KubeObject;
  /** The StatefulSet's pod (`NAME-0`), for PodReady's reason (B.106). */
  pod?: KubeObject;
  /**
   * ConfigMaps named by identity/script refs, keyed by ConfigMap name (they live in the Aspect's
   * namespace); a missing one maps to undefined or is left out (B.107).
   */
  referencedConfigMaps: Map<string, KubeObject | undefined>;
  /** The broker's view; undefined when the broker could not be asked. */
  broker?: BrokerView;
  /** Why the broker could not be asked (no token value), shown in status when `broker` is undefined. */
  brokerError?: string;
}

export interface BrokerView {
  /**
   * Tokens named exactly `operator:<namespace>/<name>` for this aspect (B.25, B.68), revoked ones
   * included: only a live one says the aspect's name is this Aspect's.
   */
  ownTokens: BrokerToken[];
  /** Any live token for this aspect name with another owner's name, for NameInUse (B.68). */
  foreignTokenNames: string[];
  /** Roster status of the aspect, absent when it never registered. */
  rosterStatus?: 'live' | 'stale' | 'down';
  lastHeartbeat?: string;
  /** Credential names granted to this aspect by anyone, this operator included. */
  grantsHeld: string[];
  /** Credential names granted to this aspect by this operator's token (B.95). */
  grantsByOperator: string[];
}

export interface BrokerToken {
  id: string;
  kind: string;
  aspect?: string;
  name?: string;
  admin: boolean;
  created_at: string;
  revoked_at?: string | null;
}

/**
 * The only way the pure middle changes the cluster. A failed call rejects with a `KubeApiError`
 * (operator/kube/errors.ts), carrying the HTTP status and the API server's message: the reconcile
 * tells 409, 404 and 422 apart by them.
 */
export interface KubeWriter {
  create(object: KubeObject): Promise<KubeObject>;
  /** `application/merge-patch+json` with only what changed (B.31, B.63). */
  mergePatch(ref: ObjectRef, patch: Record<string, unknown>): Promise<KubeObject>;
  patchStatus(ref: ObjectRef, status: Record<string, unknown>): Promise<KubeObject>;
  delete(ref: ObjectRef): Promise<void>;
  /** Writes (or creates) the token Secret without ever reading it (B.61: create, then patch on 409). */
  writeSecret(
    ref: ObjectRef,
    stringData: Record<string, string>,
    owner?: OwnerReference,
    labels?: Record<string, string>,
  ): Promise<void>;
  event(about: AspectObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

/** The broker admin API the operator uses (B.24, B.25, B.95). */
export interface BrokerAdmin {
  listTokens(filter: { aspect?: string; kind?: string }): Promise<BrokerToken[]>;
  mintAspectToken(aspect: string, name: string, admin: boolean): Promise<{ id: string; token: string }>;
  revokeToken(id: string): Promise<void>;
  deregister(aspect: string): Promise<void>;
  rosterEntry(
    aspect: string,
  ): Promise<{ status: 'live' | 'stale' | 'down'; last_heartbeat_at?: string } | undefined>;
  /** Every grant of a credential to `aspect`, with the name of the token that made it. */
  grantsTo(aspect: string): Promise<{ credential: string; grantedBy: string }[]>;
  grant(credential: string, aspect: string): Promise<void>;
  revokeGrant(credential: string, aspect: string, grantedBy: string): Promise<void>;
  putExpectedRoster(source: string, aspects: string[]): Promise<void>;
}

/** Operator settings (B.72, B.94, B.102), read once from the environment by operator/settings.ts. */
export interface OperatorSettings {
  runtimeImage: string;
  /** The broker URL given to runtime pods (in-cluster). */
  nexusUrl: string;
  /** Empty: all namespaces. */
  watchNamespaces: string[];
  frameNamespaces: string[];
  podName: string;
  podNamespace: string;
  leaseDurationS: number;
  qps: number;
  burst: number;
  resyncS: number;
  metricsPort: number;
  /** `ASPECT_POD_DEFAULTS` (B.102), already parsed with PodSettings. */
  aspectPodDefaults: Record<string, unknown>;
}

export interface ReconcileDeps {
  kube: KubeWriter;
  broker: BrokerAdmin;
  settings: OperatorSettings;
  /** The operator's own broker token name, the `granted_by` of its grants (B.95). */
  grantedBy: string;
  now: () => Date;
  /**
   * The id of the token this leadership term last wrote into each Aspect's Secret, by
   * `namespace/name`. The Secret is never read (B.61), so until the StatefulSet records the id
   * (B.94) only this tells which token the Secret holds: a pass that failed after the Secret write,
   * or one that runs before the informer cache shows the StatefulSet, records it instead of minting
   * another. Lost with the term: a new leader falls back to minting, which is always safe.
   */
  secretTokens?: Map<string, string>;
}

/** What the work queue does next with this Aspect: nothing, or look again after a delay. */
export interface ReconcileOutcome {
  /** Set on a transient failure: the queue requeues with its own exponential backoff. */
  error?: Error;
  /** Set when a condition is expected to change by itself (a pod starting, a roster going live). */
  requeueAfterMs?: number;
}

/** Names the operator gives and reads (B.94). */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'nexus-operator';
export const ASPECT_LABEL = 'nexus.dev/aspect';
export const TOKEN_ID_ANNOTATION = 'nexus.dev/token-id';
export const CONFIG_CHECKSUM_ANNOTATION = 'nexus.dev/config-checksum';
export const FINALIZER = 'nexus.dev/finalizer';
export const objectNames = (aspect: string) => ({
  statefulSet: aspect,
  pvc: `${aspect}-home`,
  secret: `${aspect}-token`,
  configMap: `${aspect}-config`,
  pod: `${aspect}-0`,
});
/** Paths inside a runtime pod; in protocol/ because the CRD's rules refuse mounts under the home. */
export { POD_PATHS } from '../protocol/aspect-resource.js';
