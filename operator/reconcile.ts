/**
 * `reconcileAspect(observed, deps)`: one level-triggered pass over one Aspect (SPEC section 11).
 * It reads only the snapshot it is given and writes only through `deps.kube` and `deps.broker`;
 * the work queue serialises passes per Aspect and acts on the outcome.
 *
 * The pass, in order:
 *   deleted                 → the finalizer (operator/finalize.ts)
 *   no finalizer            → add it (one merge patch, guarded by resourceVersion) and go on
 *   spec invalid (parse, B.67 frame namespace, B.96 documents, B.100 pod settings)
 *                           → status Failed/InvalidSpec, one Warning Event, no owned object touched
 *   token (B.25, B.94)      → keep the recorded one, or mint → write the Secret → record its id on
 *                             the StatefulSet (in the same write as any other StatefulSet change)
 *                             → revoke the others; a name held from another namespace: NameInUse
 *   owned objects           → plan() → PVC, ConfigMap, StatefulSet creates or patches
 *   grants (B.95)           → the operator's own grants become spec.credentials ∪ {provider's}
 *   status (B.63, B.106)    → written only when it changes
 * A new Aspect converges in finalizer + 4 creates (PVC, Secret, ConfigMap, StatefulSet created
 * with the token id already on it) + its status writes (B.64). A missing ConfigMap or an
 * unreachable broker keeps the phase, says why in a condition, and returns an error for backoff.
 */
import { parseAspectSpec } from '../protocol/aspect-resource.js';
import { applyActions } from './apply.js';
import {
  problem,
  revokeTokens,
  settleToken,
  syncGrants,
  tokenFactOf,
  type Emit,
  type Problem,
} from './broker-steps.js';
import { desiredConfigMap, desiredPvc, desiredStatefulSet } from './desired.js';
import { resolveDocuments } from './documents.js';
import { finalizeAspect } from './finalize.js';
import { desiredGrants } from './grants.js';
import { apiMessageOf } from './kube/errors.js';
import { namespaceOf, refOf } from './meta.js';
import { plan } from './plan.js';
import { mergePodSettings, podSettingsProblem } from './pod-spec.js';
import { statusUpdate, type StatusFacts } from './status.js';
import {
  FINALIZER,
  TOKEN_ID_ANNOTATION,
  type KubeObject,
  type Observed,
  type ReconcileDeps,
  type ReconcileOutcome,
} from './types.js';

/** Look again soon: the informer cache was behind a write, or a write raced a deletion. */
export const STALE_CACHE_REQUEUE_MS = 1_000;
/** Poll while waiting for what no informer reports: the broker's roster. */
export const WAITING_REQUEUE_MS = 2_000;
/** A Ready aspect: notice a roster change well before the informers' resync. */
export const READY_REQUEUE_MS = 60_000;
/** A name held from another namespace frees itself only when that Aspect goes. */
export const NAME_IN_USE_REQUEUE_MS = 30_000;

/**
 * Emits an Event without waiting for it: one that cannot be written (or waits for the API server)
 * must neither fail nor hold the reconcile it describes.
 */
function eventer(deps: ReconcileDeps, observed: Observed): Emit {
  return (type, reason, message) => {
    void deps.kube.event(observed.aspect, type, reason, message).catch(() => undefined);
    return Promise.resolve();
  };
}

export async function reconcileAspect(observed: Observed, deps: ReconcileDeps): Promise<ReconcileOutcome> {
  if (observed.aspect.metadata.deletionTimestamp) return finalizeAspect(observed, deps);
  const event = eventer(deps, observed);
  try {
    return await reconcileLive(observed, deps, event);
  } catch (err) {
    // Only an unexpected failure (a status write on the invalid-spec path) gets here.
    const message = apiMessageOf(err);
    await event('Warning', 'WriteFailed', message);
    return { error: err instanceof Error ? err : new Error(message) };
  }
}

async function reconcileLive(
  observed: Observed,
  deps: ReconcileDeps,
  event: Emit,
): Promise<ReconcileOutcome> {
  const { aspect } = observed;
  const finalizers = aspect.metadata.finalizers ?? [];
  if (!finalizers.includes(FINALIZER)) {
    try {
      await deps.kube.mergePatch(refOf(aspect), {
        // resourceVersion makes this a compare-and-swap: a stale cache gets 409, not a lost finalizer.
        metadata: {
          finalizers: [...finalizers, FINALIZER],
          resourceVersion: aspect.metadata.resourceVersion,
        },
      });
    } catch (err) {
      const message = `adding the finalizer: ${apiMessageOf(err)}`;
      await event('Warning', 'WriteFailed', message);
      return { error: new Error(message, { cause: err }) };
    }
  }
  const { broker } = observed;
  const name = aspect.metadata.name;
  const now = deps.now().toISOString();
  const base = {
    name,
    generation: aspect.metadata.generation ?? 0,
    pvc: observed.pvc,
    statefulSet: observed.statefulSet,
    pod: observed.pod,
    ...(broker ? { broker } : { brokerError: observed.brokerError ?? 'the broker could not be asked' }),
  };
  const recordedId = observed.statefulSet?.metadata.annotations?.[TOKEN_ID_ANNOTATION];

  /** Status Failed/InvalidSpec; the Event only when the status changes, so a resync is silent. */
  const invalid = async (message: string): Promise<ReconcileOutcome> => {
    const facts: StatusFacts = {
      ...base,
      suspended: false,
      invalidSpec: message,
      token: tokenFactOf(broker, aspect, recordedId),
    };
    const change = statusUpdate(facts, aspect.status, now);
    if (change) {
      await deps.kube.patchStatus(refOf(aspect), change.patch);
      await event('Warning', 'InvalidSpec', message);
    }
    return {};
  };

  const parsed = parseAspectSpec(name, aspect.spec);
  if (!parsed.ok) return invalid(parsed.message);
  const namespace = namespaceOf(aspect);
  if (parsed.value.config.role === 'frame' && !deps.settings.frameNamespaces.includes(namespace))
    return invalid(
      `spec.role: frame is allowed only in the frame namespaces (${deps.settings.frameNamespaces.join(', ')}), not in ${namespace} (B.67)`,
    );
  const podProblem = podSettingsProblem(
    mergePodSettings(deps.settings.aspectPodDefaults, parsed.value.kube.pod),
  );
  if (podProblem) return invalid(podProblem);
  const documents = resolveDocuments(parsed.value.kube, observed.referencedConfigMaps);
  if (!documents.ok && documents.reason === 'InvalidSpec') return invalid(documents.message);

  const problems: Problem[] = [];
  const input = { aspect, parsed: parsed.value, settings: deps.settings };
  const configMap = documents.ok ? desiredConfigMap({ ...input, documents: documents.files }) : undefined;
  // While a referenced ConfigMap is missing the pod keeps the configuration it has.
  const podConfig = configMap ?? observed.configMap;

  // The token: only minted when its id can be recorded on the StatefulSet in this same pass.
  const { token, tokenId, revokeAfterRecord, nameInUse, minted, ...tokenStep } = await settleToken(
    deps,
    {
      aspect,
      broker,
      recordedId,
      admin: parsed.value.config.role === 'frame',
      canRecord: podConfig !== undefined,
    },
    event,
  );
  problems.push(...tokenStep.problems);

  // The owned objects, in dependency order; the StatefulSet only once it has a token. Nothing
  // while another namespace holds the name: no volume is provisioned for an aspect that cannot run.
  const pairs: { desired: KubeObject; observed: KubeObject | undefined }[] = [];
  if (!nameInUse) pairs.push({ desired: desiredPvc(input), observed: observed.pvc });
  if (configMap && !nameInUse) pairs.push({ desired: configMap, observed: observed.configMap });
  if (podConfig && tokenId && !nameInUse)
    pairs.push({
      desired: desiredStatefulSet({ ...input, configMap: podConfig, tokenId }),
      observed: observed.statefulSet,
    });
  const applied = await applyActions(deps.kube, plan(pairs));
  if (applied.error) problems.push({ reason: 'WriteFailed', error: applied.error });
  if (applied.refused) {
    // A token minted for a StatefulSet that was not created is used by no pod: revoke it now
    // rather than leave one live token per retry (the next mint supersedes it, operator/tokens.ts).
    if (minted && tokenId && !observed.statefulSet) await revokeTokens(deps, [tokenId]);
    return invalid(`spec.pod: the API server refused the StatefulSet: ${applied.refused}`);
  }
  const statefulSet = applied.written.get('StatefulSet') ?? observed.statefulSet;
  const recorded = statefulSet?.metadata.annotations?.[TOKEN_ID_ANNOTATION];

  if (broker && !nameInUse) {
    // Only once the new id is recorded: until then the old token may be the one in the Secret.
    const revoke = recorded === tokenId ? revokeAfterRecord.filter((id) => id !== tokenId) : [];
    problems.push(...(await revokeTokens(deps, revoke)));
    problems.push(...(await syncGrants(deps, broker, name, desiredGrants(parsed.value), event)));
  }
  if (!broker)
    problems.push(problem('BrokerUnavailable', observed.brokerError ?? 'the broker could not be asked'));
  if (!documents.ok) problems.push(problem('ConfigMapMissing', documents.message));

  const facts: StatusFacts = {
    ...base,
    suspended: parsed.value.kube.suspend,
    ...(documents.ok ? {} : { configMapMissing: documents.message }),
    pvc: applied.written.get('PersistentVolumeClaim') ?? observed.pvc,
    statefulSet,
    token,
  };
  const change = statusUpdate(facts, aspect.status, now);
  if (change) {
    try {
      await deps.kube.patchStatus(refOf(aspect), change.patch);
    } catch (err) {
      problems.push(problem('WriteFailed', `writing the status: ${apiMessageOf(err)}`, err));
    }
  }
  for (const { reason, error } of problems) await event('Warning', reason, error.message);
  if (problems.length > 0) return { error: problems[0]!.error };
  if (applied.stale) return { requeueAfterMs: STALE_CACHE_REQUEUE_MS };
  if (nameInUse) return { requeueAfterMs: NAME_IN_USE_REQUEUE_MS };
  const ready = change?.status ?? aspect.status;
  const isReady = ready?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
  if (parsed.value.kube.suspend) return {};
  return { requeueAfterMs: isReady ? READY_REQUEUE_MS : WAITING_REQUEUE_MS };
}
