/**
 * The finalizer of a deleted Aspect (B.62, fault 14). Order: revoke the operator's tokens for it,
 * deregister it at the broker, revoke the operator's grants to it, then release: the home PVC
 * kept (owner reference removed) or deleted per `home.retainOnDelete`, then the finalizer removed.
 * While the broker cannot be asked, or refuses, the finalizer holds: the Aspect stays, its status
 * says what it waits for, and the error outcome requeues with backoff.
 *
 * A retained home loses its owner reference first, before the broker calls: with
 * `--cascade=foreground` the garbage collector deletes owned objects while the finalizer is still
 * waiting, and a home the user asked to keep must not be among them.
 *
 * When another namespace holds the aspect's name (B.68) and this Aspect holds no live token (it
 * never had one, or its tokens were revoked), the broker's aspect and grants are that namespace's:
 * only this Aspect's own tokens are revoked.
 */
import { apiMessageOf, isNotFound } from './kube/errors.js';
import { refOf, aspectTokenName } from './meta.js';
import { statusUpdate } from './status.js';
import { ownsAspectName } from './tokens.js';
import {
  FINALIZER,
  type KubeObject,
  type Observed,
  type ReconcileDeps,
  type ReconcileOutcome,
} from './types.js';

/** `spec.home.retainOnDelete` as written, true when absent or unreadable (keeping data is safe). */
export function retainsHome(spec: unknown): boolean {
  const home = (spec as { home?: { retainOnDelete?: unknown } } | undefined)?.home;
  return home?.retainOnDelete !== false;
}

/**
 * Runs `call`, taking a 404 as done: a retry after a partial pass finds some steps already made.
 * (The broker client takes its own "not found" on a removal as done already.)
 */
async function idempotent(call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

export async function finalizeAspect(observed: Observed, deps: ReconcileDeps): Promise<ReconcileOutcome> {
  const { aspect, broker, pvc } = observed;
  const finalizers = aspect.metadata.finalizers ?? [];
  if (!finalizers.includes(FINALIZER)) return {};
  const name = aspect.metadata.name;
  const retain = retainsHome(aspect.spec);

  const hold = async (message: string, cause?: unknown): Promise<ReconcileOutcome> => {
    const change = statusUpdate(
      {
        name,
        generation: aspect.metadata.generation ?? 0,
        suspended: (aspect.spec as { suspend?: unknown } | undefined)?.suspend === true,
        deleting: message,
        pvc,
        statefulSet: observed.statefulSet,
        pod: observed.pod,
        token: { kind: 'unknown', message: 'the token is being revoked' },
        ...(broker ? { broker } : { brokerError: observed.brokerError ?? 'the broker could not be asked' }),
      },
      aspect.status,
      deps.now().toISOString(),
    );
    // Best effort: the finalizer holds whether or not the status says so.
    if (change) await deps.kube.patchStatus(refOf(aspect), change.patch).catch(() => undefined);
    void deps.kube.event(aspect, 'Warning', 'FinalizerHeld', message).catch(() => undefined); // not waited for
    return { error: new Error(message, cause === undefined ? undefined : { cause }) };
  };

  try {
    if (retain && pvc && ownedBy(pvc, aspect.metadata.uid))
      await releaseClaim(deps, pvc, aspect.metadata.uid);
  } catch (err) {
    return hold(`keeping the home PersistentVolumeClaim: ${apiMessageOf(err)}`, err);
  }

  if (!broker)
    return hold(
      `waiting for the broker to revoke the token and deregister the aspect: ${observed.brokerError ?? 'it could not be asked'}`,
    );
  const tokenName = aspectTokenName(aspect);
  const ours = broker.ownTokens.filter((t) => t.name === tokenName);
  const ownsName = ownsAspectName(broker, tokenName);
  try {
    for (const token of ours.filter((t) => !t.revoked_at))
      await idempotent(() => deps.broker.revokeToken(token.id));
    if (ownsName) {
      await idempotent(() => deps.broker.deregister(name));
      for (const credential of broker.grantsByOperator)
        await idempotent(() => deps.broker.revokeGrant(credential, name, deps.grantedBy));
    }
  } catch (err) {
    return hold(`waiting for the broker: ${apiMessageOf(err)}`, err);
  }

  try {
    if (!retain && pvc && ownedBy(pvc, aspect.metadata.uid))
      await idempotent(() => deps.kube.delete(refOf(pvc)));
    await deps.kube.mergePatch(refOf(aspect), {
      metadata: {
        finalizers: finalizers.filter((f) => f !== FINALIZER),
        resourceVersion: aspect.metadata.resourceVersion,
      },
    });
  } catch (err) {
    return hold(`releasing the Aspect: ${apiMessageOf(err)}`, err);
  }
  return {};
}

function ownedBy(object: KubeObject, uid: string | undefined): boolean {
  return (object.metadata.ownerReferences ?? []).some((o) => o.uid === uid);
}

/** Removes our owner reference from the home, keeping any other. */
async function releaseClaim(deps: ReconcileDeps, pvc: KubeObject, uid: string | undefined): Promise<void> {
  const others = (pvc.metadata.ownerReferences ?? []).filter((o) => o.uid !== uid);
  await idempotent(() =>
    deps.kube.mergePatch(refOf(pvc), {
      metadata: {
        ownerReferences: others.length > 0 ? others : null,
        resourceVersion: pvc.metadata.resourceVersion,
      },
    }),
  );
}
