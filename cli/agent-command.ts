import { copyFile, mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigError, createLogger } from '../platform/index.js';
import { startAgent, type RunningAgent } from '../runtime/agent.js';
import { createPrometheusMetrics } from '../runtime/observability/prometheus-metrics.js';
import { exits, startPlumbing } from './process-lifecycle.js';

/** Files `--config-from` copies into the home; sessions and state are never touched (B.31). */
export const CONFIG_FILES = ['aspect.json', 'SOUL.md', 'AGENT.md', 'CLAUDE.md', 'PRIMER.md', 'script.json'];

/**
 * Makes the home's configuration files those of `from`: each one there is copied, each one missing
 * there is removed from the home (a PRIMER.md deleted, AGENT.md renamed to CLAUDE.md), so the
 * runtime never reads a file the source no longer has. Nothing else in the home is touched.
 */
export async function copyConfig(from: string, home: string): Promise<void> {
  // A mistyped DIR must not empty the home of its configuration.
  const isFolder = await stat(from)
    .then((found) => found.isDirectory())
    .catch(() => false);
  if (!isFolder) throw new ConfigError(`--config-from ${from}: no such folder`);
  await mkdir(home, { recursive: true });
  for (const file of CONFIG_FILES) {
    try {
      await copyFile(path.join(from, file), path.join(home, file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await rm(path.join(home, file), { force: true });
    }
  }
}

/** `nexus agent HOME`: one runtime for the aspect in HOME. */
export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('run the runtime of the aspect whose home folder is HOME')
    .argument('<home>', 'the aspect home folder (aspect.json, SOUL.md, AGENT.md, PRIMER.md, session/)')
    .option('--config-from <dir>', 'copy aspect.json, identity documents and script.json from DIR at start')
    .option(
      '--metrics-port <port>',
      'serve /metrics, /healthz and /readyz here: a port, 0 (off) or auto (default METRICS_PORT, else 9464)',
    )
    .action(async (home: string, options: { configFrom?: string; metricsPort?: string }) => {
      const url = process.env.NEXUS_URL ?? 'http://127.0.0.1:7888';
      const logger = createLogger({ name: 'runtime' });
      let agent: RunningAgent | null = null;
      const plumbing = await startPlumbing({
        metricsPortFlag: options.metricsPort,
        defaultMetricsPort: 9464,
        logger,
        ready: () => agent?.ready() ?? { ready: false, reason: 'starting' },
      });
      const { refused, failed } = exits({
        logger,
        server: plumbing.server,
        stop: async () => agent?.stop(),
        stoppingMessage: 'stopping',
      });
      if (options.configFrom) await copyConfig(options.configFrom, home);
      agent = await startAgent({
        homeDir: path.resolve(home),
        url,
        // Re-read on every call: a rotated NEXUS_TOKEN_FILE needs no restart (B.72).
        token: () => plumbing.token.read(),
        refusals: plumbing.refusals,
        onTokenRefused: refused,
        onRestartNeeded: failed,
        logger,
        metrics: createPrometheusMetrics(plumbing.registry),
      });
    });
}
