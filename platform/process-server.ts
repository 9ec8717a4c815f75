/**
 * The metrics and health server of a long-running process other than the broker (B.31, B.70,
 * B.85): `/metrics`, `/healthz` and `/readyz` on the metrics port, or only the probes on
 * `HEALTH_PORT` when metrics are off.
 *
 * The port: `--metrics-port` (a number, or `auto` for any free port), else `METRICS_PORT`, else
 * the process's default (runtime 9464, worker 9465, operator 9466); 0 turns metrics off. A port
 * already taken is a warning and the process runs on without the server: it never fails to start
 * because of its metrics. The server listens on every interface, so a scraper and the kubelet's
 * probes reach it at the pod's address.
 *
 * `/healthz` answers 200 while the process runs (liveness); `/readyz` answers 200 or 503 from the
 * process's own `ready()` (each process documents what ready means).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ConfigError, intSetting } from './config.js';
import type { Logger } from './logger.js';

type Env = Record<string, string | undefined>;

/** Where to serve metrics: a port (0 = off) or `auto` (any free port). */
export type MetricsPort = { kind: 'off' } | { kind: 'auto' } | { kind: 'port'; port: number };

/** What `/readyz` reports. */
export interface Readiness {
  ready: boolean;
  /** Why not, or what ready means here; shown in the body. */
  reason: string;
}

/** Reads `--metrics-port` (it wins) or `METRICS_PORT`, with the process's default port. */
export function metricsPortSetting(flag: string | undefined, env: Env, defaultPort: number): MetricsPort {
  const [raw, name] = flag !== undefined ? [flag, '--metrics-port'] : [env.METRICS_PORT, 'METRICS_PORT'];
  if (raw === undefined || raw === '') return { kind: 'port', port: defaultPort };
  if (raw === 'auto') return { kind: 'auto' };
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new ConfigError(`${name} must be a port number from 0 (off) to 65535, or auto`);
  return port === 0 ? { kind: 'off' } : { kind: 'port', port };
}

/** `HEALTH_PORT`: where the probes listen when metrics are off (default 0: nowhere). */
export function healthPortSetting(env: Env): number {
  return intSetting(env, 'HEALTH_PORT', 0, 0, 65_535);
}

export interface ProcessServer {
  /** `http://127.0.0.1:PORT/metrics`, or null when metrics are not served. */
  metricsUrl: string | null;
  /** `http://127.0.0.1:PORT` where `/healthz` and `/readyz` answer, or null. */
  healthUrl: string | null;
  close(): Promise<void>;
}

/**
 * Starts the server B.85 asks for, logging where it listens (`metricsUrl` or `healthUrl`), or a
 * warning when its port is taken. Resolves once listening (or given up); never rejects on a port.
 */
export async function startProcessServer(options: {
  registry: Registry;
  metricsPort: MetricsPort;
  healthPort: number;
  ready: () => Readiness;
  logger: Logger;
}): Promise<ProcessServer> {
  const { logger, metricsPort } = options;
  if (metricsPort.kind !== 'off') {
    const port = metricsPort.kind === 'auto' ? 0 : metricsPort.port;
    const server = await listen(handler(options, true), port, logger);
    if (server instanceof http.Server) {
      const metricsUrl = `${localUrl(server)}/metrics`;
      logger.info({ metricsUrl }, 'serving /metrics, /healthz and /readyz');
      return { metricsUrl, healthUrl: localUrl(server), close: () => closeServer(server) };
    }
    logger.warn(
      { port, code: server },
      `metrics port ${port} ${unusable(server)}; running without a metrics server (B.85)`,
    );
  }
  if (options.healthPort !== 0) {
    const server = await listen(handler(options, false), options.healthPort, logger);
    if (server instanceof http.Server) {
      const healthUrl = localUrl(server);
      logger.info({ healthUrl }, 'serving /healthz and /readyz (metrics off)');
      return { metricsUrl: null, healthUrl, close: () => closeServer(server) };
    }
    logger.warn(
      { port: options.healthPort, code: server },
      `health port ${options.healthPort} ${unusable(server)}; running without a health server`,
    );
  }
  return { metricsUrl: null, healthUrl: null, close: async () => undefined };
}

function handler(
  options: { registry: Registry; ready: () => Readiness; logger: Logger },
  withMetrics: boolean,
): http.RequestListener {
  return (req, res) => {
    const json = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.method !== 'GET') return json(405, { error: 'only GET is served here' });
    const route = (req.url ?? '').split('?')[0];
    if (route === '/healthz') return json(200, { status: 'ok' });
    if (route === '/readyz') {
      const { ready, reason } = options.ready();
      return json(ready ? 200 : 503, { status: ready ? 'ready' : 'unready', reason });
    }
    if (route === '/metrics' && withMetrics) {
      options.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(text),
        (err: unknown) => {
          options.logger.warn({ err: String(err) }, 'metrics collection failed');
          json(500, { error: 'metrics collection failed' });
        },
      );
      return;
    }
    json(404, { error: 'not found' });
  };
}

/** Listens on every interface; the error code instead when the port cannot be had. */
function listen(listener: http.RequestListener, port: number, logger: Logger): Promise<http.Server | string> {
  const server = http.createServer(listener);
  return new Promise((resolve) => {
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    server.listen(port, () => {
      server.removeAllListeners('error');
      server.on('error', (err) => logger.warn({ err: String(err) }, 'metrics or health server error'));
      // An idle scrape connection must not keep a stopping process up.
      server.unref();
      resolve(server);
    });
  });
}

const unusable = (code: string) => (code === 'EADDRINUSE' ? 'is in use' : `could not be used (${code})`);

function localUrl(server: http.Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}
