import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serviceDiscovery, startMetricsServer } from './metrics-server.js';

/** A process's /metrics, as the broker and the worker pool serve theirs. */
async function exposition(text: string): Promise<{ url: string; close: () => void }> {
  const server = http.createServer((_req, res) => res.end(text));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`,
    close: () => server.close(),
  };
}

describe("the supervisor's metrics port (B.85)", () => {
  it('serves the broker and the worker pool in one exposition, and the runtimes as scrape targets', async () => {
    const broker = await exposition('# TYPE nexus_ws_connections gauge\nnexus_ws_connections 3\n');
    const worker = await exposition(
      '# TYPE nexus_hand_run_seconds histogram\nnexus_hand_run_seconds_count 1',
    );
    let ready = false;
    const server = await startMetricsServer(0, {
      expositions: () => [broker.url, worker.url],
      targets: () => [
        { aspect: 'frame', url: 'http://127.0.0.1:41001/metrics' },
        { aspect: 'writer', url: 'http://127.0.0.1:41002/custom' },
      ],
      ready: () => ready,
    });
    try {
      expect(await (await fetch(`${server.url}/metrics`)).text()).toBe(
        '# TYPE nexus_ws_connections gauge\nnexus_ws_connections 3\n# TYPE nexus_hand_run_seconds histogram\nnexus_hand_run_seconds_count 1\n',
      );
      expect(await (await fetch(`${server.url}/metrics/targets`)).json()).toEqual([
        { targets: ['127.0.0.1:41001'], labels: { aspect: 'frame' } },
        { targets: ['127.0.0.1:41002'], labels: { aspect: 'writer', __metrics_path__: '/custom' } },
      ]);
      expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
      ready = true;
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    } finally {
      await server.close();
      broker.close();
      worker.close();
    }
  });

  it('answers 503 naming the source when one cannot be read', async () => {
    const server = await startMetricsServer(0, {
      expositions: () => ['http://127.0.0.1:1/metrics'],
      targets: () => [],
      ready: () => true,
    });
    try {
      const response = await fetch(`${server.url}/metrics`);
      expect(response.status).toBe(503);
      expect(await response.text()).toContain('http://127.0.0.1:1/metrics could not be read');
    } finally {
      await server.close();
    }
  });

  it('lists no targets when no runtime reported a metrics URL', () => {
    expect(serviceDiscovery([])).toEqual([]);
  });
});
