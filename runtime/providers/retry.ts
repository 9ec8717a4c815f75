/**
 * Retry of provider calls (SPEC section 7, B.53): the SDKs' own retries are off, so every provider
 * is retried the same way, here. A retryable failure is retried only while nothing was yielded
 * yet: once a text delta or a tool call reached the caller, a second attempt would repeat it, so
 * the failure is passed on instead.
 *
 * The wait is capped exponential backoff with "equal jitter" (half fixed, half random), or the
 * server's `retry-after` when it gave one. An abort during the wait ends the stream with `aborted`.
 */
import { abortedFailure } from './failure.js';
import {
  invoke,
  type Provider,
  type ProviderEvent,
  type ProviderFailure,
  type ProviderRequest,
  type ProviderResult,
} from './provider.js';

export interface RetryOptions {
  /** Attempts in all, the first included (default 4). */
  maxAttempts: number;
  /** The first wait before jitter, doubled on each retry (default 500 ms). */
  baseMs: number;
  /** The longest backoff wait (default 30 s); a server's `retry-after` is honoured as given. */
  capMs: number;
  /** Told before each wait: which attempt failed, why, and how long the wait is. */
  onRetry?: (info: { attempt: number; failure: ProviderFailure; delayMs: number }) => void;
  /** A number in [0, 1) for the jitter; tests pass a constant. */
  random?: () => number;
}

export const DEFAULT_RETRY: RetryOptions = { maxAttempts: 4, baseMs: 500, capMs: 30_000 };

/** The wait before retry number `attempt` (1 for the first retry). */
export function backoffMs(
  attempt: number,
  failure: ProviderFailure,
  options: Pick<RetryOptions, 'baseMs' | 'capMs' | 'random'>,
): number {
  if (failure.retryAfterS !== undefined) return Math.ceil(failure.retryAfterS * 1000);
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** (attempt - 1));
  const random = options.random ?? Math.random;
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Resolves `true` after `ms`, or early with `false` when the signal aborts. */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** `provider.stream`, retried on retryable failures that came before any delta. */
export async function* streamWithRetry(
  provider: Provider,
  request: ProviderRequest,
  signal: AbortSignal,
  options: Partial<RetryOptions> = {},
): AsyncGenerator<ProviderEvent> {
  const settings: RetryOptions = { ...DEFAULT_RETRY, ...options };
  for (let attempt = 1; ; attempt++) {
    let yielded = false;
    let failure: ProviderFailure | null = null;
    for await (const event of provider.stream(request, signal)) {
      if (event.type === 'error') {
        failure = event.error;
        break;
      }
      if (event.type !== 'done') yielded = true;
      yield event;
      if (event.type === 'done') return;
    }
    failure ??= { kind: 'other', message: 'the provider stream ended without a result', retryable: false };
    if (yielded || !failure.retryable || attempt >= settings.maxAttempts || signal.aborted) {
      yield { type: 'error', error: signal.aborted ? abortedFailure() : failure };
      return;
    }
    const delayMs = backoffMs(attempt, failure, settings);
    settings.onRetry?.({ attempt, failure, delayMs });
    if (!(await sleepUnlessAborted(delayMs, signal))) {
      yield { type: 'error', error: abortedFailure() };
      return;
    }
  }
}

/** `invoke` over `streamWithRetry`: the result, or a `ProviderCallError` with the last failure. */
export function invokeWithRetry(
  provider: Provider,
  request: ProviderRequest,
  signal: AbortSignal,
  options: Partial<RetryOptions> = {},
): Promise<ProviderResult> {
  const retrying: Provider = {
    kind: provider.kind,
    stream: (r, s) => streamWithRetry(provider, r, s, options),
    countTokens: (r) => provider.countTokens(r),
  };
  return invoke(retrying, request, signal);
}
