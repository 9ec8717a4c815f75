/**
 * The thin `apply` of plan's actions through the KubeWriter, classifying what can go wrong:
 * - 409 on a create: the object exists and the informer cache has not caught up; look again soon
 *   (no error backoff: nothing is wrong).
 * - 404 on a patch: the object was deleted since the cache saw it; look again soon (it is created).
 * - 422 on the StatefulSet: the API server refused the pod settings (B.100): a spec error.
 * - anything else: a transient failure, requeued with backoff.
 */
import { apiMessageOf, isConflict, isInvalid, isNotFound } from './kube/errors.js';
import type { Action } from './plan.js';
import type { KubeObject, KubeWriter } from './types.js';

export interface ApplyResult {
  /** What the API server returned for each written object, by kind. */
  written: Map<string, KubeObject>;
  /** The cache is behind (409 on create, 404 on patch): reconcile again soon. */
  stale: boolean;
  /** The API server's message when it refused the StatefulSet as invalid (422). */
  refused?: string;
  error?: Error;
}

const kindOf = (action: Action) => (action.kind === 'create' ? action.object.kind : action.ref.kind);

/** Applies actions in order, stopping at the first failure (later objects depend on earlier ones). */
export async function applyActions(kube: KubeWriter, actions: Action[]): Promise<ApplyResult> {
  const result: ApplyResult = { written: new Map(), stale: false };
  for (const action of actions) {
    try {
      const written =
        action.kind === 'create'
          ? await kube.create(action.object)
          : await kube.mergePatch(action.ref, action.patch);
      result.written.set(kindOf(action), written);
    } catch (err) {
      if ((action.kind === 'create' && isConflict(err)) || (action.kind === 'patch' && isNotFound(err))) {
        result.stale = true;
        continue;
      }
      if (isInvalid(err) && kindOf(action) === 'StatefulSet') {
        result.refused = apiMessageOf(err);
        return result;
      }
      const verb = action.kind === 'create' ? 'creating' : 'patching';
      result.error = new Error(`${verb} the ${kindOf(action)}: ${apiMessageOf(err)}`, { cause: err });
      return result;
    }
  }
  return result;
}
