import { ErrorBody, WireError, type ErrorCode } from '../protocol/index.js';

/** Options of the broker HTTP client. */
export interface BrokerClientOptions {
  url: string;
  /** The bearer token, or a function that reads it (a mounted file re-read after a 401). */
  token: string | (() => string);
  timeoutMs?: number;
}

/**
 * The broker could not be reached: the connection was refused or reset, the name did not resolve,
 * or no answer came in time. Retryable. The message names the URL (without any credentials in it)
 * and the cause, never the token.
 */
export class BrokerUnreachableError extends Error {
  readonly retryable = true;

  constructor(
    readonly url: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot reach the broker at ${url} (${reason})`, options);
    this.name = 'BrokerUnreachableError';
  }
}

/** A URL as it may be shown: no user, password, query or fragment. */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/$/, '')}`;
  } catch {
    return '(an invalid URL)';
  }
}

/** The system error code under a failed fetch or socket (ECONNREFUSED, ENOTFOUND, …), else its message. */
export function networkReason(err: unknown): string {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
    if (e instanceof AggregateError) {
      const inner = (e.errors as NodeJS.ErrnoException[]).find((x) => typeof x?.code === 'string');
      if (inner?.code) return inner.code;
    }
    if (!(e.cause instanceof Error)) return e.message;
  }
  return String(err);
}

/** A typed, minimal HTTP client of the broker API: JSON in, JSON out, wire errors as `WireError`. */
export class BrokerClient {
  constructor(private readonly options: BrokerClientOptions) {}

  get url(): string {
    return this.options.url.replace(/\/$/, '');
  }

  private token(): string {
    return typeof this.options.token === 'function' ? this.options.token() : this.options.token;
  }

  /** Calls `method path` and returns the status and the parsed body (undefined for 204). */
  /** `signal` (shutdown, stay-down) ends the call early; its abort is thrown as it is. */
  async call<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<{ status: number; body: T }> {
    const timeoutMs = this.options.timeoutMs ?? 30_000;
    const headers = {
      authorization: `Bearer ${this.token()}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    };
    let response: Response;
    let text: string;
    try {
      response = await fetch(this.url + path, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: signal
          ? AbortSignal.any([AbortSignal.timeout(timeoutMs), signal])
          : AbortSignal.timeout(timeoutMs),
      });
      text = await response.text();
    } catch (err) {
      if (signal?.aborted) throw err;
      const timedOut = err instanceof Error && err.name === 'TimeoutError';
      throw new BrokerUnreachableError(
        displayUrl(this.url),
        timedOut ? `no answer within ${timeoutMs / 1000} s` : networkReason(err),
        { cause: err },
      );
    }
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      if (response.status >= 400) throw wireErrorFrom(response, undefined);
      throw new Error(
        `${displayUrl(this.url)} answered HTTP ${response.status} with a body that is not JSON: is it a Nexus broker?`,
      );
    }
    if (response.status >= 400) throw wireErrorFrom(response, parsed);
    return { status: response.status, body: parsed as T };
  }

  get<T = unknown>(path: string, signal?: AbortSignal): Promise<T> {
    return this.call<T>('GET', path, undefined, signal).then((r) => r.body);
  }

  post<T = unknown>(path: string, body: unknown = {}, signal?: AbortSignal): Promise<T> {
    return this.call<T>('POST', path, body, signal).then((r) => r.body);
  }

  delete<T = unknown>(path: string, signal?: AbortSignal): Promise<T> {
    return this.call<T>('DELETE', path, undefined, signal).then((r) => r.body);
  }
}

function wireErrorFrom(response: Response, body: unknown): WireError {
  const parsed = ErrorBody.safeParse(body);
  const retryAfter = Number(response.headers.get('retry-after'));
  if (parsed.success) {
    const { code, message, details } = parsed.data.error;
    return new WireError(
      code,
      message,
      details,
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
    );
  }
  // A gateway in front of the broker (a proxy, an ingress) answering for a replica that is gone.
  const gateway = response.status === 502 || response.status === 503 || response.status === 504;
  const code: ErrorCode = gateway ? 'unavailable' : response.status >= 500 ? 'internal' : 'invalid_request';
  return new WireError(code, `HTTP ${response.status}`);
}
