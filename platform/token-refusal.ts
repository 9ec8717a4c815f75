/**
 * B.80's rule for long-running processes (`nexus agent`, `nexus worker`): only a `401` and a `403
 * identity_mismatch` are refusals no retry can mend, and only they end the process. A token read
 * from `NEXUS_TOKEN` gives up at the first one; a token read from a file is re-read on each retry
 * and given `NEXUS_TOKEN_RETRY_S` from the first refusal, so a rotated Secret has time to be
 * projected (B.72). `stay_down` (B.15), any 5xx and any network error are retried forever.
 *
 * States: `accepted` → (`refused since T`) → `accepted` again on a call the broker took, or
 * `given up` once a refusal comes at T + retry window or later.
 */
import { WireError } from '../protocol/index.js';
import type { TokenSource } from './token-source.js';

/** True for the refusals B.80 calls permanent. */
export function isTokenRefusal(err: unknown): err is WireError {
  return err instanceof WireError && (err.code === 'unauthenticated' || err.code === 'identity_mismatch');
}

/** Tracks refusals of one process's token and says when to give up. */
export class TokenRefusals {
  private refusedSince: number | null = null;
  private lastWasRefusal = false;

  constructor(
    private readonly source: TokenSource,
    private readonly retryS: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * After a failed call: null to retry (any failure that is not a permanent refusal, or one still
   * inside the window), or the one line to exit with.
   */
  check(err: unknown): string | null {
    this.lastWasRefusal = isTokenRefusal(err);
    if (!isTokenRefusal(err)) return null;
    const now = this.now();
    this.refusedSince ??= now;
    if (this.source.fromFile && now - this.refusedSince < this.retryS * 1000) return null;
    return `the broker refused the token from ${this.source.description} (${err.status} ${err.code}): ${err.message}`;
  }

  /**
   * The wait before the next retry: after a refusal, shortened so the last retry comes when the
   * window closes; after any other failure, the backoff as it is.
   */
  nextDelayMs(backoffMs: number): number {
    if (this.refusedSince === null || !this.lastWasRefusal) return backoffMs;
    const left = this.refusedSince + this.retryS * 1000 - this.now();
    return Math.max(0, Math.min(backoffMs, left));
  }

  /** After a call the broker accepted: the window starts again at the next refusal. */
  accepted(): void {
    this.refusedSince = null;
    this.lastWasRefusal = false;
  }
}

/** One line for a failed call, for a retry's log line (no stack): `401 unauthenticated: …`. */
export function failureLine(err: unknown): string {
  if (err instanceof WireError) return `${err.status} ${err.code}: ${err.message}`;
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: { code?: unknown; message?: unknown } }).cause;
    const detail =
      typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : '';
    return detail ? `${err.message} (${detail})` : err.message;
  }
  return String(err);
}
