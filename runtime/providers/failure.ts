/**
 * Classifying a failed provider call (B.53, STYLE rule 10): the HTTP status and the API's error
 * type decide the `kind` and whether the runtime retries. Both SDK adapters reduce their own error
 * classes to these inputs, so the table lives in one place.
 *
 * | status / type                 | kind            | retryable |
 * |-------------------------------|-----------------|-----------|
 * | 401, 403                      | auth            | no        |
 * | 429                           | rate_limited    | yes       |
 * | 529 or `overloaded_error`     | overloaded      | yes       |
 * | other 5xx                     | server          | yes       |
 * | 400 (and 413, 422)            | invalid_request | no        |
 * | 408, 409                      | server          | yes       |
 * | connection failures           | network         | yes       |
 * | the caller's signal aborted   | aborted         | no        |
 */
import type { ProviderFailure } from './provider.js';

/** What an SDK error tells us, reduced to plain data. */
export interface HttpFailureFacts {
  status: number | undefined;
  /** The API's error type from the body (`overloaded_error`, `rate_limit_error`, …), if any. */
  errorType?: string | null;
  message: string;
  headers?: { get(name: string): string | null } | undefined;
}

/** Error types that arrive without a status (an SSE `error` event mid-stream), by kind. */
const TYPE_KINDS: Record<string, ProviderFailure['kind']> = {
  overloaded_error: 'overloaded',
  rate_limit_error: 'rate_limited',
  api_error: 'server',
  timeout_error: 'server',
  server_error: 'server',
  authentication_error: 'auth',
  permission_error: 'auth',
  invalid_request_error: 'invalid_request',
};

const RETRYABLE: ReadonlySet<ProviderFailure['kind']> = new Set([
  'rate_limited',
  'overloaded',
  'server',
  'network',
]);

function kindOf(status: number | undefined, errorType: string | null | undefined): ProviderFailure['kind'] {
  if (status === 529 || errorType === 'overloaded_error') return 'overloaded';
  if (status === undefined) return (errorType && TYPE_KINDS[errorType]) || 'other';
  if (status === 401 || status === 403) return 'auth';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server';
  if (status === 408 || status === 409) return 'server';
  if (status === 400 || status === 413 || status === 422) return 'invalid_request';
  return 'other';
}

/** Seconds to wait from `retry-after-ms` or `retry-after` (seconds or an HTTP date), if given. */
export function retryAfterSeconds(
  headers: HttpFailureFacts['headers'],
  now = Date.now(),
): number | undefined {
  const ms = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return ms / 1000;
  const value = headers?.get('retry-after');
  if (!value) return undefined;
  const seconds = Number.parseFloat(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - now) / 1000);
}

/** The failure for an HTTP error response or an in-stream API error. */
export function failureFromHttp(facts: HttpFailureFacts): ProviderFailure {
  const kind = kindOf(facts.status, facts.errorType);
  const failure: ProviderFailure = { kind, message: facts.message, retryable: RETRYABLE.has(kind) };
  if (facts.status !== undefined) failure.status = facts.status;
  const retryAfterS = retryAfterSeconds(facts.headers);
  if (retryAfterS !== undefined) failure.retryAfterS = retryAfterS;
  return failure;
}

/** The caller's signal fired: never retried, kept apart from real failures. */
export function abortedFailure(): ProviderFailure {
  return { kind: 'aborted', message: 'the provider call was aborted', retryable: false };
}

/** The connection failed or dropped before a complete response arrived. */
export function networkFailure(message: string): ProviderFailure {
  return { kind: 'network', message, retryable: true };
}

/** The credential could not be fetched: the runtime refetches it, so the call itself is not retried. */
export function credentialFailure(err: unknown): ProviderFailure {
  return {
    kind: 'auth',
    message: `the credential could not be fetched: ${messageOf(err)}`,
    retryable: false,
  };
}

/** Codes Node and undici give a dropped or refused connection. */
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
]);

/**
 * Whether a non-SDK error is a dropped connection: reading a response body that the server cut
 * off throws undici's `TypeError: terminated` (with the socket error as its cause), not an SDK error.
 */
export function isNetworkError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code && NETWORK_CODES.has(code)) return true;
    if (e.name === 'TypeError' && e.message === 'terminated') return true;
  }
  return false;
}

/** A readable message from anything thrown. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
