import os from 'node:os';
import type { Command } from 'commander';
import { ConfigError, createLogger, intSetting } from '../platform/index.js';
import { createPrometheusMetrics } from '../runtime/observability/prometheus-metrics.js';
import { startWorker, type RunningWorker } from '../runtime/worker/worker.js';
import { exits, startPlumbing } from './process-lifecycle.js';

/** `nexus worker`: a stateless Hand worker (SPEC section 6). */
export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description(
      'claim Hand dispatches from the broker and run them (NEXUS_URL, NEXUS_TOKEN: a worker token)',
    )
    .option('--slots <n>', 'how many dispatches to run at once', '1')
    .option(
      '--metrics-port <port>',
      'serve /metrics, /healthz and /readyz here: a port, 0 (off) or auto (default METRICS_PORT, else 9465)',
    )
    .action(async (options: { slots: string; metricsPort?: string }) => {
      const slots = Number(options.slots);
      if (!Number.isInteger(slots) || slots < 1 || slots > 256)
        throw new ConfigError('--slots must be an integer from 1 to 256');
      const logger = createLogger({ name: 'worker' });
      let worker: RunningWorker | null = null;
      const plumbing = await startPlumbing({
        metricsPortFlag: options.metricsPort,
        defaultMetricsPort: 9465,
        logger,
        ready: () => worker?.ready() ?? { ready: false, reason: 'starting' },
        // Under the chart its token Secret is written by the post-install hook, after the pod starts.
        waitForTokenFile: true,
      });
      const { refused } = exits({
        logger,
        server: plumbing.server,
        stop: async () => worker?.stop(),
        stoppingMessage: 'stopping: finishing or handing back running dispatches',
      });
      await plumbing.tokenReady;
      worker = await startWorker({
        url: process.env.NEXUS_URL ?? 'http://127.0.0.1:7888',
        token: () => plumbing.token.read(),
        // Its own id per process (B.75): the pod name on Kubernetes, where the hostname is the pod.
        workerId: process.env.NEXUS_WORKER_ID ?? `${os.hostname()}-${process.pid}`,
        slots,
        logger,
        renewS: intSetting(process.env, 'HAND_LEASE_RENEW_S', 10, 1, 3600),
        leaseS: intSetting(process.env, 'HAND_LEASE_S', 30, 1, 3600),
        graceS: intSetting(process.env, 'NEXUS_WORKER_GRACE_S', 20, 0, 3600),
        refusals: plumbing.refusals,
        // A refused token cannot complete anything: running Hands are handed back at once.
        onTokenRefused: (line) => {
          void worker?.stop(0);
          refused(line);
        },
        metrics: createPrometheusMetrics(plumbing.registry),
      });
    });
}
