/**
 * `nexus health` finds the port of the process beside it (B.70): the environment's ports first,
 * then the defaults; the first port that answers decides, ready or not.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { NotReady, candidatePorts, probeHealth } from './health-probe.js';

/** A server answering `/readyz` with `status`, on a free port. */
async function readyz(status: number, reason: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: status === 200 ? 'ready' : 'unready', reason }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const { port, close } = await readyz(200, '');
  await close();
  return port;
}

describe('nexus health port finding', () => {
  it('tries METRICS_PORT, HEALTH_PORT and PORT, then the default ports, each once', () => {
    expect(candidatePorts({})).toEqual([7888, 9464, 9465, 9466]);
    expect(candidatePorts({ METRICS_PORT: '9465', PORT: '8080' })).toEqual([9465, 8080, 7888, 9464, 9466]);
    // Off (0) or not a port: skipped, the defaults remain.
    expect(candidatePorts({ METRICS_PORT: '0', HEALTH_PORT: '9000', PORT: 'eighty' })).toEqual([
      9000, 7888, 9464, 9465, 9466,
    ]);
  });

  it('the first port that answers decides: ready is that port, unready is its reason', async () => {
    const nothing = await closedPort();
    const ready = await readyz(200, 'registered');
    const unready = await readyz(503, 'database unreachable');
    try {
      await expect(
        probeHealth(undefined, { METRICS_PORT: String(nothing), PORT: String(ready.port) }),
      ).resolves.toBe(ready.port);
      await expect(
        probeHealth(undefined, { METRICS_PORT: String(unready.port), PORT: String(ready.port) }),
      ).rejects.toThrow(new NotReady(`not ready on port ${unready.port}: database unreachable`));
      await expect(probeHealth(ready.port, {})).resolves.toBe(ready.port);
      await expect(probeHealth(nothing, { PORT: String(ready.port) })).rejects.toThrow(
        new NotReady(`nothing answers on port ${nothing}`),
      );
    } finally {
      await Promise.all([ready.close(), unready.close()]);
    }
  });
});
