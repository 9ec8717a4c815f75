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
