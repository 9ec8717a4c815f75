import http from 'node:http';

/** One HTTP call with the body sent exactly as given: for bodies no well-behaved client would send. */
export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is empty or not JSON. */
  json: unknown;
}

export async function rawRequest(
  url: string,
  options: {
    method?: string;
    path: string;
    token?: string;
    body?: string | Buffer;
    headers?: Record<string, string>;
  },
): Promise<RawResponse> {
  // fetch refuses a GET with a body; the broker must refuse it too (B.8), so send it another way.
  if ((options.method ?? 'POST') === 'GET' && options.body !== undefined) return rawGetWithBody(url, options);
  const response = await fetch(url.replace(/\/$/, '') + options.path, {
    method: options.method ?? 'POST',
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    },
    ...(options.body === undefined ? {} : { body: options.body }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined; // the caller asserts on `text` then
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** A GET carrying a body, through node:http (which, unlike fetch, sends one). */
function rawGetWithBody(
  url: string,
  options: { path: string; token?: string; body?: string | Buffer; headers?: Record<string, string> },
): Promise<RawResponse> {
  const body = Buffer.from(options.body ?? '');
  return new Promise((resolve, reject) => {
    const request = http.request(
      url.replace(/\/$/, '') + options.path,
      {
        method: 'GET',
        headers: {
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          'content-type': 'application/json',
          'content-length': String(body.length),
          ...options.headers,
        },
        timeout: 30_000,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const headers = new Headers();
          for (const [name, value] of Object.entries(response.headers))
            if (typeof value === 'string') headers.set(name, value);
          let json: unknown;
          try {
            json = text === '' ? undefined : JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: response.statusCode ?? 0, headers, text, json });
        });
      },
    );
    request.on('timeout', () => request.destroy(new Error('request timed out')));
    request.on('error', reject);
    request.end(body);
  });
}
