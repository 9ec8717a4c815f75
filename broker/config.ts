import { ConfigError, intSetting, requireString, secretSetting } from '../platform/index.js';
import { parseRate } from './auth/rate-limiter.js';
import { looksLikeToken } from './auth/token-format.js';
import { parseSecretKey, type SecretKey } from './credentials/encryption.js';

/** Everything the broker reads from its environment, checked once at start. */
export interface BrokerConfig {
  databaseUrl: string;
  host: string;
  port: number;
  bootstrapToken: string | undefined;
  /** Encrypts credentials (`NEXUS_SECRET_KEY` or `_FILE`); without it credential routes answer 503. */
  secretKey: SecretKey | undefined;
  /** Applies migrations at start (`nexus broker --migrate`). */
  migrate: boolean;
  heartbeatS: number;
  staleS: number;
  pollMs: number;
  helloTimeoutS: number;
  revokePollMs: number;
  rateLimits: boolean;
  rateHttp: { rate: number; burst: number };
  rateWs: { rate: number; burst: number };
  wsWindow: number;
  /** NEXUS_THREAD_TURN_LIMIT (B.59, B.83): aspects' chat messages per thread between operator messages; 0 = off. */
  threadTurnLimit: number;
  poolMax: number;
  bodyLimitBytes: number;
  hands: HandSettings;
  /** The smallest alarm `every_s`: 10 (B.27); `NEXUS_ALARM_MIN_EVERY_S` lowers it for tests only. */
  alarmMinEveryS: number;
  /** `NEXUS_EMBEDDING_DIM`: the length of every knowledge embedding (B.90). */
  embeddingDim: number;
}

/** Hands settings (SPEC section 6, B.75-B.77). N and H only seed the database's limits row. */
export interface HandSettings {
  softCap: number;
  /** null: live or stale aspects + 1, computed at claim time. */
  hardCap: number | null;
  /** Queued dispatches per Hand before `busy`; 0 means no bound. */
  queueLimit: number;
  leaseS: number;
  deadlineGraceS: number;
}

type Env = Record<string, string | undefined>;

export function loadBrokerConfig(env: Env, flags: { port?: number; migrate?: boolean } = {}): BrokerConfig {
  const bootstrapToken = secretSetting(env, 'NEXUS_BOOTSTRAP_TOKEN');
  if (
    bootstrapToken !== undefined &&
    (!looksLikeToken(bootstrapToken) || !bootstrapToken.startsWith('nxo_'))
  ) {
    throw new ConfigError(
      'NEXUS_BOOTSTRAP_TOKEN must look like an nxo_ token (nxo_ and 43 base64url characters)',
    );
  }
  const secretKeyText = secretSetting(env, 'NEXUS_SECRET_KEY');
  const secretKey = secretKeyText === undefined ? undefined : parseSecretKey(secretKeyText);
  if (secretKey === null) {
    throw new ConfigError(
      'NEXUS_SECRET_KEY must be 32 bytes in base64 (for example `openssl rand -base64 32`)',
    );
  }
  const rateLimitsRaw = env.NEXUS_RATE_LIMITS ?? 'on';
  if (!['on', 'off'].includes(rateLimitsRaw)) throw new ConfigError('NEXUS_RATE_LIMITS must be on or off');
  const staleS = intSetting(env, 'NEXUS_STALE_S', 30, 1, 86_400);
  return {
    databaseUrl: requireString(env, 'DATABASE_URL'),
    host: env.HOST ?? '0.0.0.0',
    port: flags.port ?? intSetting(env, 'PORT', 7888, 0, 65_535),
    bootstrapToken,
    secretKey,
    migrate: flags.migrate ?? false,
    heartbeatS: intSetting(env, 'NEXUS_HEARTBEAT_S', 10, 1, 3600),
    staleS,
    pollMs: intSetting(env, 'NEXUS_POLL_MS', 500, 10, 60_000),
    helloTimeoutS: intSetting(env, 'NEXUS_HELLO_TIMEOUT_S', 10, 1, 600),
    revokePollMs: intSetting(env, 'NEXUS_REVOKE_POLL_MS', 200, 10, 1000),
    rateLimits: rateLimitsRaw === 'on',
    rateHttp: parseRate(env.NEXUS_RATE_HTTP, { rate: 100, burst: 200 }),
    rateWs: parseRate(env.NEXUS_RATE_WS, { rate: 200, burst: 400 }),
    wsWindow: intSetting(env, 'NEXUS_WS_WINDOW', 256, 1, 100_000),
    threadTurnLimit: intSetting(env, 'NEXUS_THREAD_TURN_LIMIT', 50, 0, 1_000_000),
    poolMax: intSetting(env, 'NEXUS_DB_POOL_MAX', 10, 1, 100),
    bodyLimitBytes: 1024 * 1024,
    alarmMinEveryS: intSetting(env, 'NEXUS_ALARM_MIN_EVERY_S', 10, 1, 10),
    hands: {
      softCap: intSetting(env, 'HAND_SOFT_CAP', 3, 1, 10_000),
      hardCap: env.HAND_HARD_CAP ? intSetting(env, 'HAND_HARD_CAP', 4, 1, 10_000) : null,
      queueLimit: intSetting(env, 'HAND_QUEUE_LIMIT', 100, 0, 10_000_000),
      leaseS: intSetting(env, 'HAND_LEASE_S', 30, 1, 3600),
      deadlineGraceS: intSetting(env, 'HAND_DEADLINE_GRACE_S', 10, 0, 3600),
    },
    embeddingDim: intSetting(env, 'NEXUS_EMBEDDING_DIM', 1536, 1, 16_000),
  };
}
