/**
 * How the Kubernetes API refused, as data the reconcile reads (STYLE 10): every failed call of
 * operator/kube/client.ts rejects with a `KubeApiError`, and this module is the one place that
 * reads them. No client-node import, so the reconcile's modules may import it.
 *
 * - `KubeInvalid` (422): the object as written is invalid (a bad `spec.pod` reaching the
 *   StatefulSet, B.100). Terminal for this generation: the Aspect becomes `Failed`, reason
 *   `InvalidSpec`, with the API server's own message (operator/apply.ts).
 * - 409 on a create and 404 on a patch or delete say the informer cache is behind (apply.ts,
 *   finalize.ts); anything else (403, 5xx, no answer) is requeued with backoff, so a fixed RBAC
 *   rule is picked up.
 */

export class KubeApiError extends Error {
  constructor(
    /** The HTTP status; 0 when no answer came (refused, reset, timed out). */
    readonly status: number,
    /** The Status `reason` (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid` …), or a short cause. */
    readonly reason: string,
    /** The API server's message (it names the field), or what went wrong on the way. */
    readonly apiMessage: string,
    /** `VERB path`, never a body or a header. */
    readonly request: string,
    options?: { cause?: unknown },
  ) {
    super(`${request}: ${status === 0 ? 'no answer' : status} ${reason}: ${apiMessage}`, options);
    this.name = 'KubeApiError';
  }
}

/** 422 Invalid: what the API server said is wrong with the object (B.100). */
export class KubeInvalid extends KubeApiError {
  override readonly name = 'KubeInvalid';
}

/** The client was stopped (the lease was lost or the process is ending): nothing more is sent. */
export class KubeClientStopped extends Error {
  constructor() {
    super('the Kubernetes client was stopped');
    this.name = 'KubeClientStopped';
  }
}

export const isNotFound = (err: unknown): boolean => err instanceof KubeApiError && err.status === 404;
export const isConflict = (err: unknown): boolean => err instanceof KubeApiError && err.status === 409;
export const isInvalid = (err: unknown): err is KubeInvalid => err instanceof KubeInvalid;

/**
 * What to say about a failure: the API server's own message (it names the field) for a refusal,
 * else the error's message (a broker error, or no answer).
 */
export function apiMessageOf(err: unknown): string {
  if (err instanceof KubeApiError && err.apiMessage !== '') return err.apiMessage;
  return err instanceof Error ? err.message : String(err);
}
