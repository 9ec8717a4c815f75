import { Writable } from 'node:stream';
import { Counter } from 'prom-client';
import { createLogger } from './logger.js';
import { createMetricsRegistry } from './metrics.js';
import { metricsPortSetting, startProcessServer } from './process-server.js';

const silent = createLogger({
  name: 'test',
  destination: new Writable({ write: (_chunk, _encoding, callback) => callback() }),
});

describe('metrics port settings (B.85)', () => {
  it('takes the flag over METRICS_PORT over the default; 0 is off and auto any free port', () => {
    expect(metricsPortSetting(undefined, {}, 9464)).toEqual({ kind: 'port', port: 9464 });
    expect(metricsPortSetting(undefined, { METRICS_PORT: '9500' }, 9464)).toEqual({
      kind: 'port',
      port: 9500,
    });
    expect(metricsPortSetting(undefined, { METRICS_PORT: '0' }, 9464)).toEqual({ kind: 'off' });
    expect(metricsPortSetting('auto', { METRICS_PORT: '0' }, 9464)).toEqual({ kind: 'auto' });
    expect(metricsPortSetting('0', { METRICS_PORT: '9500' }, 9465)).toEqual({ kind: 'off' });
  });

  it('refuses a value that is not a port, naming the setting', () => {
    expect(() => metricsPortSetting('ninety', {}, 9464)).toThrow(
      '--metrics-port must be a port number from 0 (off) to 65535, or auto',
    );
    expect(() => metricsPortSetting(undefined, { METRICS_PORT: '70000' }, 9464)).toThrow(
      /^METRICS_PORT must/,
    );
  });
});

describe('the metrics and health server', () => {
  it('serves /metrics, /healthz and /readyz from the process state, and 404 elsewhere', async () => {
    const registry = createMetricsRegistry({ defaults: false });
    new Counter({ name: 'probe_total', help: 'a test series', registers: [registry] }).inc(3);
    let ready = false;
    const server = await startProcessServer({
      registry,
      metricsPort: { kind: 'auto' },
      healthPort: 0,
      ready: () => ({ ready, reason: ready ? 'up' : 'not yet' }),
      logger: silent,
    });
    try {
      const base = server.healthUrl as string;
      expect(server.metricsUrl).toBe(`${base}/metrics`);
      expect(await (await fetch(`${base}/metrics`)).text()).toContain('probe_total 3');
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const unready = await fetch(`${base}/readyz`);
      expect([unready.status, await unready.json()]).toEqual([503, { status: 'unready', reason: 'not yet' }]);
      ready = true;
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect((await fetch(`${base}/other`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('with a taken port runs without a server instead of failing', async () => {
    const registry = createMetricsRegistry({ defaults: false });
    const first = await startProcessServer({
      registry,
      metricsPort: { kind: 'auto' },
      healthPort: 0,
      ready: () => ({ ready: true, reason: 'up' }),
      logger: silent,
    });
    try {
      const port = Number(new URL(first.healthUrl as string).port);
      const second = await startProcessServer({
        registry,
        metricsPort: { kind: 'port', port },
        healthPort: 0,
        ready: () => ({ ready: true, reason: 'up' }),
        logger: silent,
      });
      expect(second).toMatchObject({ metricsUrl: null, healthUrl: null });
    } finally {
      await first.close();
    }
  });
});
