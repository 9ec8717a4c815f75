import type { Command } from 'commander';
import { createLogger, requireString } from '../platform/index.js';
import { parsePort } from './arguments.js';

/**
 * `nexus broker`, `nexus migrate`, `nexus health`. The broker's modules (and pg, express) are loaded
 * when one of these runs, not at every start of the CLI: a client command starts faster without them.
 */
export function registerServerCommands(program: Command): void {
  program
    .command('broker')
    .description('run a broker replica (HTTP + WebSocket on PORT, state in DATABASE_URL)')
    .option('--port <port>', 'port to listen on (0 = any free port)', parsePort)
    .option('--migrate', 'apply database migrations at start')
    .action(async (options: { port?: number; migrate?: boolean }) => {
      const { loadBrokerConfig } = await import('../broker/config.js');
      const { startBroker } = await import('../broker/broker.js');
      const config = loadBrokerConfig(process.env, options);
      const logger = createLogger({ name: 'broker' });
      const broker = await startBroker(config, logger);
      const shutdown = async (signal: string) => {
        logger.info({ signal }, 'stopping');
        await broker.stop();
        logger.flush();
        process.exit(0);
      };
      process.once('SIGTERM', () => void shutdown('SIGTERM'));
      process.once('SIGINT', () => void shutdown('SIGINT'));
    });

  program
    .command('migrate')
    .description('create the database if missing, apply migrations and exit')
    .action(async () => {
      const url = requireString(process.env, 'DATABASE_URL');
      const { ensureDatabase, migrate } = await import('../broker/db/migrate.js');
      const { default: pg } = await import('pg');
      await ensureDatabase(url);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const result = await migrate(client);
        process.stdout.write(
          result.applied.length > 0
            ? `applied migrations ${result.applied.join(', ')}; schema version ${result.version}\n`
            : `schema is current (version ${result.version})\n`,
        );
      } finally {
        await client.end();
      }
    });

  program
    .command('health')
    .description("exit 0 if the local nexus process answers /readyz, else 1 (the images' HEALTHCHECK)")
    .option('--port <port>', 'the port to probe (default: found as below)', parsePort)
    .action(async (options: { port?: number }) => {
      const { probeHealth } = await import('./health-probe.js');
      const port = await probeHealth(options.port, process.env);
      process.stdout.write(`ready on port ${port}\n`);
    });
}
