import os from 'node:os';
import type { Command } from 'commander';
import { ConfigError, createLogger, intSetting, secretSetting } from '../platform/index.js';
import { startWorker } from '../runtime/worker/worker.js';

/** `nexus worker`: a stateless Hand worker (SPEC section 6). */
export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description(
      'claim Hand dispatches from the broker and run them (NEXUS_URL, NEXUS_TOKEN: a worker token)',
    )
    .option('--slots <n>', 'how many dispatches to run at once', '1')
    .option('--metrics-port <port>', 'serve /metrics on this port')
    .action(async (options: { slots: string; metricsPort?: string }) => {
      const slots = Number(options.slots);
      if (!Number.isInteger(slots) || slots < 1 || slots > 256)
        throw new ConfigError('--slots must be an integer from 1 to 256');
      const metricsPort = options.metricsPort === undefined ? undefined : Number(options.metricsPort);
      if (
        metricsPort !== undefined &&
        (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65_535)
      )
        throw new ConfigError('--metrics-port must be a port number');
      const token = () => {
        const value = secretSetting(process.env, 'NEXUS_TOKEN');
        if (!value) throw new ConfigError('NEXUS_TOKEN or NEXUS_TOKEN_FILE is required');
        return value;
      };
      token();
      const logger = createLogger({ name: 'worker' });
      const worker = await startWorker({
        url: process.env.NEXUS_URL ?? 'http://127.0.0.1:7888',
        token,
        // Its own id per process (B.75): the pod name on Kubernetes, where the hostname is the pod.
        workerId: process.env.NEXUS_WORKER_ID ?? `${os.hostname()}-${process.pid}`,
        slots,
        logger,
        renewS: intSetting(process.env, 'HAND_LEASE_RENEW_S', 10, 1, 3600),
        leaseS: intSetting(process.env, 'HAND_LEASE_S', 30, 1, 3600),
        graceS: intSetting(process.env, 'NEXUS_WORKER_GRACE_S', 20, 0, 3600),
        ...(metricsPort === undefined ? {} : { metricsPort }),
      });
      const stop = async (signal: string) => {
        logger.info({ signal }, 'stopping: finishing or handing back running dispatches');
        await worker.stop();
        logger.flush();
        process.exit(0);
      };
      process.once('SIGTERM', () => void stop('SIGTERM'));
      process.once('SIGINT', () => void stop('SIGINT'));
    });
}
