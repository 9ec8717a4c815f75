import type { Command } from 'commander';
import {
  ConfigError,
  awaitTokenFile,
  createLogger,
  healthPortSetting,
  metricsPortSetting,
  tokenSourceFromEnv,
} from '../platform/index.js';
import type { RunningOperator } from '../operator/main.js';
import { readOperatorSettings } from '../operator/settings.js';
import { exits } from './process-lifecycle.js';

/**
 * `nexus operator`: the Kubernetes operator (SPEC section 11). Settings come from the environment
 * (B.72, B.94, B.102); the operator's admin token from NEXUS_TOKEN_FILE (waited for while missing
 * or empty: a Secret written after install) or NEXUS_TOKEN; the broker
 * it calls is OPERATOR_BROKER_URL when set, else NEXUS_URL (the URL given to runtime pods, which
 * may not resolve where the operator runs, e.g. outside the cluster).
 */
export function registerOperatorCommand(program: Command): void {
  program
    .command('operator')
    .description(
      'run the Kubernetes operator: reconcile Aspects (nexus.dev/v1alpha1) into pods; one replica leads (a Lease)',
    )
    .option(
      '--metrics-port <port>',
      'serve /metrics, /healthz and /readyz here: a port, 0 (off) or auto (default METRICS_PORT, else 9466)',
    )
    .action(async (options: { metricsPort?: string }) => {
      // Loaded here, not at the top: @kubernetes/client-node doubles the start time and memory of
      // every other nexus command.
      const [{ loadKubeConfig }, { runOperator }, { reconcileAspect }] = await Promise.all([
        import('../operator/kube/client.js'),
        import('../operator/main.js'),
        import('../operator/reconcile.js'),
      ]);
      const env = process.env;
      // --metrics-port auto is not a number: METRICS_PORT is read here, as every process reads it.
      const metricsPort = metricsPortSetting(options.metricsPort, env, 9466);
      const settings = readOperatorSettings({ ...env, METRICS_PORT: undefined });
      const token = tokenSourceFromEnv(env);
      const brokerUrl = brokerUrlSetting(env) ?? settings.nexusUrl;
      const kubeConfig = loadKubeConfig(env);
      const logger = createLogger({ name: 'operator' });
      // No token configured, or a file that cannot be read: one line and exit 2 now. A token file
      // not written yet (the chart's post-install hook writes it) is waited for, not ready.
      const tokenFile = awaitTokenFile(token, logger);
      let operator: RunningOperator | null = null;
      exits({
        logger,
        // runOperator owns its server and closes it in stop().
        server: { metricsUrl: null, healthUrl: null, close: async () => undefined },
        stop: async () => operator?.stop(),
        stoppingMessage: 'stopping: ending reconciles and releasing the Lease',
      });
      operator = await runOperator(settings, {
        reconcile: reconcileAspect,
        logger,
        brokerUrl,
        brokerToken: () => token.read(),
        tokenFile,
        kubeConfig,
        server: { metricsPort, healthPort: healthPortSetting(env) },
      });
    });
}

/** `OPERATOR_BROKER_URL`: the broker as the operator reaches it, when NEXUS_URL is only right for pods. */
function brokerUrlSetting(env: Record<string, string | undefined>): string | undefined {
  const raw = env.OPERATOR_BROKER_URL;
  if (raw === undefined || raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('OPERATOR_BROKER_URL must be an http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ConfigError('OPERATOR_BROKER_URL must be an http:// or https:// URL');
  return raw;
}
