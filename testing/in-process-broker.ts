import { createLogger } from '../platform/index.js';
import { loadBrokerConfig } from '../broker/config.js';
import { startBroker, type RunningBroker } from '../broker/broker.js';
import { newAdminTokenValue } from './broker-process.js';

/**
 * A broker running inside the test process, for route, validation and fuzz tests (SPEC B.43 allows
 * these in-process; multi-process behaviour is tested with `startBrokerProcess`).
 */
export async function startInProcessBroker(options: {
  databaseUrl: string;
  env?: Record<string, string>;
}): Promise<RunningBroker & { adminToken: string }> {
  const adminToken = newAdminTokenValue();
  const config = loadBrokerConfig(
    {
      DATABASE_URL: options.databaseUrl,
      NEXUS_BOOTSTRAP_TOKEN: adminToken,
      HOST: '127.0.0.1',
      PORT: '0',
      NEXUS_DB_POOL_MAX: '5',
      NEXUS_POLL_MS: '200',
      ...options.env,
    },
    {},
  );
  const logger = createLogger({ name: 'broker-under-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const broker = await startBroker(config, logger);
  return { ...broker, adminToken };
}
