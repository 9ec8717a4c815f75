// Process plumbing shared by every part: logging with redaction, metrics, configuration, tokens.
export { createLogger, scrubSecrets, type Logger } from './logger.js';
export { ConfigError, intSetting, numberSetting, requireString, secretSetting } from './config.js';
export { createMetricsRegistry, Registry } from './metrics.js';
export {
  healthPortSetting,
  metricsPortSetting,
  startProcessServer,
  type MetricsPort,
  type ProcessServer,
  type Readiness,
} from './process-server.js';
export { DEV_TOKEN_FILE, TokenFilePending, tokenSourceFromEnv, type TokenSource } from './token-source.js';
export { awaitTokenFile, type TokenWait } from './token-wait.js';
export { TokenRefusals, failureLine, isTokenRefusal } from './token-refusal.js';
