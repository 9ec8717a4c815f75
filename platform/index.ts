// Process plumbing shared by every part: logging with redaction, metrics, configuration.
export { createLogger, scrubSecrets, type Logger } from './logger.js';
export { ConfigError, intSetting, numberSetting, requireString, secretSetting } from './config.js';
export { createMetricsRegistry, Registry } from './metrics.js';
