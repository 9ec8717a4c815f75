import { ErrorBody, WireError, type ErrorCode } from '../protocol/index.js';

/** Options of the broker HTTP client. */
export interface BrokerClientOptions {
  url: string;
  /** The bearer token, or a function that reads it (a mounted file re-read after a 401). */
  token: string | (() => string);
  timeoutMs?: number;
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
  async call<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> {
    const response = await fetch(this.url + path, {
      method,
      headers: {
        authorization: `Bearer ${this.token()}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // A gateway's HTML error page is still an HTTP error; a success that is not JSON is not ours.
      if (response.status < 400) throw new Error(`${method} ${path}: answer ${response.status} is not JSON`);
    }
    if (response.status >= 400) throw wireErrorFrom(response, parsed);
    return { status: response.status, body: parsed as T };
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.call<T>('GET', path).then((r) => r.body);
  }

  post<T = unknown>(path: string, body: unknown = {}): Promise<T> {
    return this.call<T>('POST', path, body).then((r) => r.body);
  }

  delete<T = unknown>(path: string): Promise<T> {
    return this.call<T>('DELETE', path).then((r) => r.body);
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
