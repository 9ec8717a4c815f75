/**
 * The plumbing the LLM API doubles share: a real `node:http` server on port 0 that records every
 * request (method, path, headers, parsed JSON body) before a route answers it, plus JSON and
 * server-sent-event writers. `stop()` closes open streams too, so a stalled turn cannot hold a test.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the double received it; header names are lower-case. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

export type Route = (
  request: RecordedRequest,
  res: http.ServerResponse,
  req: http.IncomingMessage,
) => Promise<void> | void;

export interface HttpDouble {
  /** The server's origin, `http://127.0.0.1:PORT`. */
  url: string;
  requests: RecordedRequest[];
  stop(): Promise<void>;
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function flatHeaders(req: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** Starts a server that records each request and hands it to `routes[path]`, else answers 404. */
export async function startHttpDouble(
  routes: Record<string, Route>,
  notFound: (res: http.ServerResponse) => void,
): Promise<HttpDouble> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        path,
        headers: flatHeaders(req),
        body: await readJson(req),
      };
      requests.push(recorded);
      const route = req.method === 'POST' ? routes[path] : undefined;
      if (route) await route(recorded, res, req);
      else notFound(res);
    })().catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: String(err) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Opens an event stream; each write is one event (`event:` line only when a name is given). */
export function openEventStream(res: http.ServerResponse): {
  send(data: unknown, event?: string): void;
  end(): void;
} {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  return {
    send(data, event) {
      const payload = typeof data === 'string' ? data : JSON.stringify(data);
      res.write(`${event ? `event: ${event}\n` : ''}data: ${payload}\n\n`);
    },
    end() {
      res.end();
    },
  };
}

/** Resolves when the client goes away (used by turns that stall mid-stream until aborted). */
export function untilClosed(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    if (res.destroyed || req.destroyed) resolve();
    res.once('close', () => resolve());
  });
}

/** Splits text into word-sized pieces (spaces kept) so a stream has several deltas. */
export function pieces(text: string): string[] {
  return text.match(/\s*\S+\s*/g) ?? (text === '' ? [] : [text]);
}

/** The rough token count the doubles report: characters ÷ 4, rounded up. */
export function roughTokens(value: unknown): number {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
  return Math.ceil(text.length / 4);
}
