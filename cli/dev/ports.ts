/** Ports for `nexus dev`: a free one for the embedded Postgres, and checks before listening. */
import net from 'node:net';
import { ConfigError } from '../../platform/index.js';

/** A port nobody listens on at this moment (the kernel's pick for port 0 on 127.0.0.1). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Whether `host:port` can be listened on now (false when another process holds it). */
export function portIsFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** The supervisor's metrics port: a number (0 = off) or `auto`; `explicit` when the user chose it. */
export interface MetricsPortChoice {
  port: number | 'auto';
  explicit: boolean;
}

export function metricsPortInUse(port: number | 'auto'): ConfigError {
  return new ConfigError(
    `metrics port ${port} is already in use: choose another with --metrics-port (a number, auto, or 0 for none)`,
  );
}

/**
 * The broker's port and a metrics port the user chose, checked before anything starts (a default
 * metrics port taken is only a warning later, B.85).
 */
export async function checkPortsFree(
  brokerPort: number,
  host: string,
  metrics: MetricsPortChoice,
): Promise<void> {
  if (brokerPort !== 0 && !(await portIsFree(brokerPort, host)))
    throw new ConfigError(
      `port ${brokerPort} is already in use (another nexus dev or broker?): choose another with --port`,
    );
  const { port, explicit } = metrics;
  if (explicit && typeof port === 'number' && port !== 0 && !(await portIsFree(port, '127.0.0.1')))
    throw metricsPortInUse(port);
}
