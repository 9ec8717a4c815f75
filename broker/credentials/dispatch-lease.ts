/**
 * The seam between credentials and Hands: a worker may fetch a credential only for a running
 * dispatch whose lease it holds (SPEC section 3, B.28, B.75), and then acts as that dispatch's
 * target aspect. The Hands work supplies the real check; until then no worker holds anything.
 */

/** What a worker presents: its token, the process it names and the lease it claims to hold. */
export interface WorkerLease {
  tokenId: string;
  workerId: string;
  dispatchId: string;
  attempt: number;
}

/**
 * Decides whether `lease` is a live lease on a running dispatch (bound to the same token id,
 * worker id and attempt) and, if so, returns the dispatch's target aspect; null otherwise.
 */
export type HeldDispatchTarget = (lease: WorkerLease) => Promise<string | null>;

/** The check before the dispatch queue exists: no worker holds any dispatch. */
export const noDispatchesHeld: HeldDispatchTarget = async () => null;
