/**
 * How the Kubernetes API refused, as data the reconcile reads (STYLE 10). No client-node import:
 * the pure middle may import this module to tell failures apart.
 *
 * - `KubeInvalid` (422): the object as written is invalid (a bad `spec.pod` reaching the
 *   StatefulSet, B.100). Terminal for this generation: the Aspect becomes `Failed`, reason
 *   `InvalidSpec`, with the API server's own message.
 * - `KubeApiError` with `retryable`: 409 conflicts, 429, 5xx and no answer at all (status 0);
 *   requeue with backoff.
 * - Any other `KubeApiError` (403 forbidden, 404 …) is a fault the operator cannot mend by retrying
 *   soon; it is still requeued with backoff, so a fixed RBAC rule is picked up.
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
    this.body = { kind: 'Status', code: status, reason, message: apiMessage };
  }

  /** The Status as the API server sent it (the shape readers of client-node's ApiException expect). */
  readonly body: { kind: 'Status'; code: number; reason: string; message: string };

  get retryable(): boolean {
    return this.status === 0 || this.status === 409 || this.status === 429 || this.status >= 500;
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
