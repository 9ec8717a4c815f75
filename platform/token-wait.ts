/**
 * Waiting for a token file that arrives after the process starts. Under the chart, the operator's
 * and the workers' token Secrets are written by the post-install hook, and `helm install --wait`,
 * Flux and Argo CD wait for the Deployments before they run hooks: a process that exited on a
 * missing file would never become ready, and the hook would never run. So with NEXUS_TOKEN_FILE
 * set, a file that is missing or empty is waited for (one log line, capped backoff); anything else
 * (no token configured at all, a file that cannot be read) still fails at once with one line.
 *
 * While waiting, `/healthz` is 200 and `/readyz` is 200 too, with the wait as its reason: Helm's
 * `--wait`, Flux and Argo CD (PostSync needs every resource healthy) run the hook only once the
 * Deployment is available, so a 503 here would keep the deadlock. Neither process serves traffic
 * that readiness could gate; the reason and the log line say what it is waiting for.
 */
import type { Logger } from './logger.js';
import { TokenFilePending, type TokenSource } from './token-source.js';

const FIRST_WAIT_MS = 250;
const MAX_WAIT_MS = 5_000;

/** A token source and, while its file is pending, why the process is not ready. */
export interface TokenWait {
  /** Resolves once the token can be read; rejects with the error of a misconfigured source. */
  readonly ready: Promise<void>;
  /** The `/readyz` reason while waiting (reported as ready, see above), else null. */
  pendingReason(): string | null;
}

/**
 * Reads the token now. Throws what the source throws unless the source is a file that is pending;
 * then waits for it, re-reading with a doubling delay capped at 5 s.
 */
export function awaitTokenFile(token: TokenSource, logger: Logger): TokenWait {
  let pending: string | null = null;
  try {
    token.read();
    return { ready: Promise.resolve(), pendingReason: () => null };
  } catch (err) {
    if (!(err instanceof TokenFilePending)) throw err;
    pending = `waiting for the token file: ${err.message}`;
  }
  logger.warn(
    { tokenSource: token.description },
    'waiting for the token file to exist and be non-empty (a Secret written after install)',
  );
  const ready = new Promise<void>((resolve, reject) => {
    const attempt = (waitMs: number) => {
      try {
        token.read();
      } catch (err) {
        if (err instanceof TokenFilePending) {
          pending = `waiting for the token file: ${err.message}`;
          setTimeout(() => attempt(Math.min(MAX_WAIT_MS, waitMs * 2)), waitMs);
          return;
        }
        reject(err);
        return;
      }
      pending = null;
      logger.info({ tokenSource: token.description }, 'token file found; starting');
      resolve();
    };
    setTimeout(() => attempt(FIRST_WAIT_MS * 2), FIRST_WAIT_MS);
  });
  // Awaited by the caller once its server is up; a rejection before then is not unhandled.
  ready.catch(() => undefined);
  return { ready, pendingReason: () => pending };
}
