/**
 * What `nexus agent` and `nexus worker` share around their part: the token source, B.80's refusal
 * window, the metrics and health server (B.85), and the exits: 0 after SIGTERM / SIGINT, 2 with one
 * line when the broker refuses the token for good.
 */
import {
  TokenRefusals,
  createMetricsRegistry,
  healthPortSetting,
  intSetting,
  metricsPortSetting,
  awaitTokenFile,
  startProcessServer,
  tokenSourceFromEnv,
  type Logger,
  type ProcessServer,
  type Readiness,
  type Registry,
  type TokenSource,
} from '../platform/index.js';

/** The plumbing of one long-running process, built before its part starts. */
export interface ProcessPlumbing {
  token: TokenSource;
  refusals: TokenRefusals;
  registry: Registry;
  server: ProcessServer;
  /** Resolves once the token can be read (at once unless `waitForTokenFile` and it is pending). */
  tokenReady: Promise<void>;
}

/**
 * Reads the token (failing at once, with the line of issue 9 item 16, when there is none; or
 * waiting for a pending token file when asked), the
 * refusal window and the metrics port, and starts the metrics and health server.
 */
export async function startPlumbing(options: {
  metricsPortFlag: string | undefined;
  defaultMetricsPort: number;
  logger: Logger;
  ready: () => Readiness;
  /**
   * Wait, alive and not ready, for a NEXUS_TOKEN_FILE that is missing or empty (a mounted Secret
   * written after install) instead of failing; anything else still fails at once.
   */
  waitForTokenFile?: boolean;
}): Promise<ProcessPlumbing> {
  const token = tokenSourceFromEnv(process.env);
  const tokenFile = options.waitForTokenFile ? awaitTokenFile(token, options.logger) : null;
  if (!tokenFile) token.read();
  const retryS = intSetting(process.env, 'NEXUS_TOKEN_RETRY_S', 120, 0, 86_400);
  const metricsPort = metricsPortSetting(options.metricsPortFlag, process.env, options.defaultMetricsPort);
  const healthPort = healthPortSetting(process.env);
  const registry = createMetricsRegistry();
  const server = await startProcessServer({
    registry,
    metricsPort,
    healthPort,
    ready: () => {
      const pending = tokenFile?.pendingReason();
      // Ready while waiting (see awaitTokenFile): `helm install --wait` would otherwise never run
      // the hook that writes the file.
      return pending ? { ready: true, reason: pending } : options.ready();
    },
    logger: options.logger,
  });
  return {
    token,
    refusals: new TokenRefusals(token, retryS),
    registry,
    server,
    tokenReady: tokenFile?.ready ?? Promise.resolve(),
  };
}

/**
 * Installs the exits: SIGTERM / SIGINT stop the part and exit 0; `refused(line)` stops it and
 * exits 2 after printing `nexus: line` (B.80). Each runs once.
 */
export function exits(options: {
  logger: Logger;
  server: ProcessServer;
  stop: () => Promise<void>;
  /** What the process logs when a signal stops it. */
  stoppingMessage: string;
}): { refused: (line: string) => void; failed: (line: string) => void } {
  let ending = false;
  const end = async (code: number, line: string | null) => {
    if (ending) return;
    ending = true;
    await options.stop().catch((err: unknown) => options.logger.warn({ err: String(err) }, 'stop failed'));
    await options.server.close();
    await new Promise<void>((resolve) => options.logger.flush(() => resolve()));
    if (line !== null) process.stderr.write(`nexus: ${line}\n`);
    process.exit(code);
  };
  const onSignal = (signal: string) => {
    options.logger.info({ signal }, options.stoppingMessage);
    void end(0, null);
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  return { refused: (line) => void end(2, line), failed: (line) => void end(1, line) };
}
