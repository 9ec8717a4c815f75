/**
 * The supervisor's own metrics port (B.85): `/metrics` serves the in-process broker's series and
 * the worker pool's, one exposition after the other (they share no metric name); the runtimes are
 * child processes on ports of their own (`--metrics-port auto`), listed on `/metrics/targets` in
 * Prometheus' HTTP service-discovery format, `[{targets: ["127.0.0.1:PORT"], labels: {aspect}}]`.
 * `/healthz` and `/readyz` are served here too.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { metricsPortInUse, type MetricsPortChoice } from './ports.js';

export interface MetricsSources {
  /**
   * Expositions concatenated on `/metrics`: a URL to read (the broker's), or a function giving the
   * text (the in-process worker pool's registry).
   */
  expositions: () => (string | (() => Promise<string>))[];
  /** Each runtime's `/metrics` URL, when it logged one. */
  targets: () => { aspect: string; url: string }[];
  ready: () => boolean;
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

async function exposition(url: string): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  } catch (err) {
    throw new Error(`${url} could not be read (${err instanceof Error ? err.message : String(err)})`, {
      cause: err,
    });
  }
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return response.text();
}

export function serviceDiscovery(targets: { aspect: string; url: string }[]): unknown[] {
  return targets.map(({ aspect, url }) => {
    const parsed = new URL(url);
    return {
      targets: [parsed.host],
      labels: { aspect, ...(parsed.pathname === '/metrics' ? {} : { __metrics_path__: parsed.pathname }) },
    };
  });
}

/** Listens on `port` (0: any free one) on 127.0.0.1; rejects with the listen error (EADDRINUSE). */
export async function startMetricsServer(port: number, sources: MetricsSources): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const route = new URL(req.url ?? '/', 'http://x').pathname;
    if (route === '/metrics') {
      Promise.all(
        sources.expositions().map((source) => (typeof source === 'string' ? exposition(source) : source())),
      ).then(
        (texts) =>
          res
            .writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
            .end(texts.map((t) => (t.endsWith('\n') ? t : `${t}\n`)).join('')),
        (err: unknown) => res.writeHead(503).end(`${err instanceof Error ? err.message : String(err)}\n`),
      );
    } else if (route === '/metrics/targets') {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify(serviceDiscovery(sources.targets())));
    } else if (route === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else if (route === '/readyz') {
      const ready = sources.ready();
      res
        .writeHead(ready ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: ready ? 'ready' : 'starting' }));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The supervisor's metrics port; a default port already taken is a warning, not a failure (B.85). */
export async function openSupervisorMetrics(
  choice: MetricsPortChoice,
  say: (line: string) => void,
  sources: MetricsSources,
): Promise<MetricsServer | null> {
  const { port, explicit } = choice;
  if (port === 0) return null;
  try {
    return await startMetricsServer(port === 'auto' ? 0 : port, sources);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    if (explicit) throw metricsPortInUse(port); // taken since the check at start
    say(
      `metrics port ${port} is in use: running without the supervisor's metrics (choose one with --metrics-port)`,
    );
    return null;
  }
}
