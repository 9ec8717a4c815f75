import type { Command } from 'commander';
import { ConfigError } from '../platform/index.js';
import { parsePort } from './arguments.js';
import { ReportedFailure, runDev } from './dev/dev.js';

/** `auto` or a port number (0 = off). */
function parseMetricsPort(value: string): number | 'auto' {
  return value === 'auto' ? 'auto' : parsePort(value);
}

/** Whether this build's `nexus agent` takes `--metrics-port` (B.85), so `nexus dev` can pass `auto`. */
function agentTakesMetricsPort(program: Command): boolean {
  const agent = program.commands.find((c) => c.name() === 'agent');
  return agent?.options.some((o) => o.long === '--metrics-port') ?? false;
}

/** `nexus dev`: the whole system on this machine in one command (SPEC section 1, B.34, B.45). */
export function registerDevCommand(program: Command): void {
  program
    .command('dev')
    .description(
      'run everything on this machine: an embedded PostgreSQL (unless DATABASE_URL is set), a broker, a Hand worker pool and one runtime per aspect home in --agents; Ctrl-C stops it all',
    )
    .option('--agents <dir>', 'the folder of aspect homes (one folder with an aspect.json each)', './agents')
    .option('--port <port>', 'the broker port (0 = any free port)', parsePort, 7888)
    .option('--data <dir>', 'where the database, tokens, homes and logs live', './.nexus')
    .option(
      '--metrics-port <port>',
      "the supervisor's /metrics and /metrics/targets port: a number, auto, or 0 for none (default: METRICS_PORT or 9464)",
      parseMetricsPort,
    )
    .addHelpText(
      'after',
      `
Environment:
  DATABASE_URL        use this PostgreSQL instead of the embedded one
  ANTHROPIC_API_KEY   stored as the anthropic credential and granted to every aspect
  HOST                the broker's address (default 127.0.0.1)

Writes DATA/admin-token (0600), which client commands read by default (NEXUS_TOKEN_FILE), and
serves the broker on http://127.0.0.1:7888 (their default NEXUS_URL). See docs/dev.md.`,
    )
    .action(
      async (options: { agents: string; port: number; data: string; metricsPort?: number | 'auto' }) => {
        const fromEnv = process.env.METRICS_PORT;
        const metricsPort =
          options.metricsPort !== undefined
            ? { port: options.metricsPort, explicit: true }
            : fromEnv
              ? { port: parseEnvMetricsPort(fromEnv), explicit: true }
              : { port: 9464, explicit: false };
        try {
          await runDev({
            agents: options.agents,
            data: options.data,
            port: options.port,
            metricsPort,
            runtimeMetricsFlag: agentTakesMetricsPort(program),
            env: process.env,
          });
        } catch (err) {
          if (err instanceof ReportedFailure) process.exit(1); // its one line is on stderr already
          throw err;
        }
        // Stopped: what is left are the worker pool's back-off timers and idle sockets; nothing to wait for.
        process.exit(0);
      },
    );
}

function parseEnvMetricsPort(value: string): number | 'auto' {
  if (value === 'auto') return 'auto';
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new ConfigError('METRICS_PORT must be auto or a port number from 0 to 65535');
  return port;
}
