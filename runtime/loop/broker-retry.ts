/**
 * B.110: broker calls made from a turn survive a replica. A call that fails transiently
 * (connection refused or reset, a timeout, 502/503/504) is tried again with the same body, and so
 * the same idempotency key (B.47), backing off from 250 ms to a 2 s cap, for up to the retry window
 * (`NEXUS_TOOL_RETRY_S`, default 60 s) before the error reaches the model. A 4xx is never retried:
 * the broker decided. A replica that dies after committing answers the repeat with the first reply,
 * so a retried send is still sent once.
 */
import { WireError } from '../../protocol/index.js';
import { BrokerUnreachableError, type BrokerClient } from '../../client/index.js';
import type { Logger } from '../../platform/index.js';

/** Posts to the broker on behalf of a turn; `signal` ends the retries (shutdown, stay-down). */
export interface BrokerPoster {
  post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T>;
}

/** Every broker call a turn's tools make (the frame's overrides read and delete too), retried alike. */
export interface BrokerCaller extends BrokerPoster {
  call<T>(
    method: string,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<{ status: number; body: T }>;
  get<T>(path: string, signal?: AbortSignal): Promise<T>;
  delete<T>(path: string, signal?: AbortSignal): Promise<T>;
}

/** Network error codes of Node and undici that mean "try again" (refused, reset, timed out). */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** Whether a failed broker call may succeed if made again (B.110). */
export function isTransient(err: unknown): boolean {
  if (err instanceof BrokerUnreachableError) return err.retryable;
  if (err instanceof WireError) return err.status === 502 || err.status === 503 || err.status === 504;
  // fetch wraps the network error (`TypeError: fetch failed`, cause ECONNREFUSED …); walk the causes.
  // (Duck-typed: fetch's errors may come from another realm, where `instanceof Error` is false.)
  for (const e of causes(err)) {
    if (e.name === 'TimeoutError') return true;
    if (typeof e.code === 'string' && TRANSIENT_CODES.has(e.code)) return true;
  }
  return false;
}

/** An error and its causes, at most five deep. */
function causes(err: unknown): { name?: unknown; message?: unknown; code?: unknown }[] {
  const chain: { name?: unknown; message?: unknown; code?: unknown; cause?: unknown }[] = [];
  for (let e = err; typeof e === 'object' && e !== null && chain.length < 5;) {
    const link = e as { name?: unknown; message?: unknown; code?: unknown; cause?: unknown };
    chain.push(link);
    e = link.cause;
  }
  return chain;
}

export interface RetrySettings {
  /** How long to keep trying, from the first attempt. */
  windowMs: number;
  firstDelayMs?: number;
  capDelayMs?: number;
}

/** The broker's calls with B.110's retries: the same method, path and body each time. */
export function retryingPoster(broker: BrokerClient, settings: RetrySettings, logger: Logger): BrokerCaller {
  async function call<T>(
    method: string,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<{ status: number; body: T }> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      try {
        return await broker.call<T>(method, path, body, signal);
      } catch (err) {
        const left = settings.windowMs - (Date.now() - started);
        if (!isTransient(err) || left <= 0 || signal?.aborted) throw err;
        const backoff = (settings.firstDelayMs ?? 250) * 2 ** Math.min(attempt - 1, 10);
        const delay = Math.min(settings.capDelayMs ?? 2000, backoff, left);
        logger.warn(
          { path, attempt, retryInMs: delay, err: describe(err) },
          'broker call failed; retrying with the same idempotency key',
        );
        await sleep(delay, signal);
        if (signal?.aborted) throw err;
      }
    }
  }
  return {
    call,
    post: async <T>(path: string, body: unknown, signal?: AbortSignal) =>
      (await call<T>('POST', path, body ?? {}, signal)).body,
    get: async <T>(path: string, signal?: AbortSignal) =>
      (await call<T>('GET', path, undefined, signal)).body,
    delete: async <T>(path: string, signal?: AbortSignal) =>
      (await call<T>('DELETE', path, undefined, signal)).body,
  };
}

/** The message and the innermost cause's code, e.g. `fetch failed (ECONNREFUSED)`. */
function describe(err: unknown): string {
  const chain = causes(err);
  const code = chain.map((e) => e.code).findLast((c) => typeof c === 'string');
  const message = String(chain[0]?.message ?? err);
  return typeof code === 'string' ? `${message} (${code})` : message;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
