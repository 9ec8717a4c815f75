// Test helpers: real Postgres databases, real broker processes, wire-speaking clients.
export {
  createTestDatabase,
  databaseUrl,
  withServerClient,
  TEST_SERVER_URL,
  type TestDatabase,
} from './postgres.js';
export { startBrokerProcess, newAdminTokenValue, NEXUS_BIN, type BrokerProcess } from './broker-process.js';
export { waitUntil, sleep } from './wait.js';
export {
  adminClient,
  aspectConfig,
  createAspect,
  mintAspectToken,
  registerBody,
  type TestAspect,
} from './aspects.js';
export { startInProcessBroker } from './in-process-broker.js';
