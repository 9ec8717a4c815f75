/**
 * The operator's composition root: `runOperator(settings, options)` starts it in this process
 * (tests do so; `nexus operator` does so with its environment).
 *
 * States: `identifying` (asking the broker which token name the operator acts under, B.95) →
 * `standby` (competing for the Lease) ⇄ `leading` (informers, queue and reconciles run; a lost
 * Lease stops them at once: in-flight Kubernetes requests are aborted) → `stopped` (the Lease is
 * released so a standby takes over at once).
 *
 * Each leadership term builds its own Kubernetes clients, informers and queue, so nothing of a
 * lost term (a cache, a backoff, a write in flight) leaks into the next. A term regained starts
 * only once the lost one has stopped (its reconciles ended), and a lost term's broker writes are
 * refused (term-broker.ts): one Aspect is never reconciled by two terms at once.
 *
 * `/readyz` is 200 in standby (nothing to wait for) and, while leading, once the informers have
 * listed; 503 while identifying; 200, saying so, while waiting for its token file (awaitTokenFile).
 */
import type { KubeConfig } from '@kubernetes/client-node';
import {
  createMetricsRegistry,
  startProcessServer,
  type Logger,
  type MetricsPort,
  type ProcessServer,
  type Readiness,
  type Registry,
  type TokenWait,
} from '../platform/index.js';
import { OperatorBrokerClient } from './broker-client.js';
import { Controller, type ReconcileFn } from './controller.js';
import { KubeClient, loadKubeConfig } from './kube/client.js';
import { EventRecorder } from './kube/events.js';
import { LEASE_NAME, LeaderElector, leaseClientOptions } from './kube/leader.js';
import { TokenBucket } from './kube/rate-limiter.js';
import { ApiKubeWriter } from './kube/writer.js';
import { createOperatorMetrics, type OperatorMetrics } from './metrics.js';
import { termBroker } from './term-broker.js';
import type { OperatorSettings } from './types.js';

export interface OperatorOptions {
  reconcile: ReconcileFn;
  logger: Logger;
  /** The broker the operator itself calls (`OPERATOR_BROKER_URL`, else `NEXUS_URL`). */
  brokerUrl: string;
  /** Reads the operator's admin token (again on each call: a mounted Secret may rotate). */
  brokerToken: () => string;
  /** Default: `KUBECONFIG` or in-cluster. */
  kubeConfig?: KubeConfig;
  registry?: Registry;
  /** Serve `/metrics`, `/healthz`, `/readyz` (B.70, B.85); none when absent. */
  server?: { metricsPort: MetricsPort; healthPort: number };
  workers?: number;
  /** Debounce of expected-roster reports (default 1 s). */
  rosterDebounceMs?: number;
  /**
   * The token file mounted from a Secret the chart's hook writes after install: while it is pending
   * the server answers /readyz 200 with the wait as the reason, and the broker is asked only after.
   */
  tokenFile?: TokenWait;
}

export interface RunningOperator {
  readonly leading: boolean;
  /** The token name grants are made under, once known. */
  readonly operatorTokenName: string | undefined;
  ready(): Readiness;
  server: ProcessServer | null;
  registry: Registry;
  /** Stops reconciling, releases the Lease, closes the server. */
  stop(): Promise<void>;
}

const IDENTIFY_RETRY_MIN_MS = 1_000;
const IDENTIFY_RETRY_MAX_MS = 30_000;
/**
 * Event writes have their own budget (B.64 does not count them): client-go's burst per source.
 * Past it Events are dropped (kube/events.ts), so no reconcile waits for one.
 */
const EVENT_QPS = 5;
const EVENT_BURST = 25;

export async function runOperator(
  settings: OperatorSettings,
  options: OperatorOptions,
): Promise<RunningOperator> {
  const { logger } = options;
  const registry = options.registry ?? createMetricsRegistry();
  const metrics = createOperatorMetrics(registry);
  const kubeConfig = options.kubeConfig ?? loadKubeConfig();
  const broker = new OperatorBrokerClient({ url: options.brokerUrl, token: options.brokerToken });
  const onRequest = (verb: string, code: string) => metrics.kubeRequest(verb, code);

  let state: 'identifying' | 'standby' | 'leading' | 'stopped' = 'identifying';
  let operatorTokenName: string | undefined;
  let term: Term | null = null;
  /** Counts leadership changes: a term waiting for the last one to stop starts only if still current. */
  let leadership = 0;
  /** Resolves once every lost term has stopped. */
  let stopped: Promise<void> = Promise.resolve();
  let identifyTimer: NodeJS.Timeout | null = null;

  const elector = new LeaderElector({
    kube: new KubeClient({ kubeConfig, onRequest, ...leaseClientOptions(settings.leaseDurationS) }),
    namespace: settings.podNamespace,
    identity: settings.podName,
    leaseDurationS: settings.leaseDurationS,
    logger,
    onStartedLeading: () => {
      if (state === 'stopped') return;
      state = 'leading';
      metrics.setLeader(true);
      const mine = ++leadership;
      void stopped.then(() => {
        if (state !== 'leading' || mine !== leadership) return;
        term = startTerm(settings, options, {
          kubeConfig,
          broker,
          metrics,
          operatorTokenName: operatorTokenName as string,
        });
      });
    },
    onStoppedLeading: () => {
      if (state === 'stopped') return;
      state = 'standby';
      metrics.setLeader(false);
      leadership++;
      const ending = term;
      term = null;
      // At once: its requests are aborted, its queue takes nothing more; the next term waits for it.
      if (ending) {
        const stopping = ending.stop().catch((err: unknown) => {
          logger.error({ err: String(err) }, 'the lost leadership term did not stop cleanly');
        });
        stopped = Promise.all([stopped, stopping]).then(() => undefined);
      }
    },
  });

  const ready = (): Readiness => {
    const pending = options.tokenFile?.pendingReason();
    // Ready while waiting (see awaitTokenFile): `helm install --wait` would otherwise never run
    // the hook that writes the file.
    if (pending) return { ready: true, reason: pending };
    switch (state) {
      case 'identifying':
        return { ready: false, reason: 'asking the broker which token the operator acts under' };
      case 'standby':
        return { ready: true, reason: 'standby: another replica holds the Lease' };
      case 'leading':
        return term?.controller.running
          ? { ready: true, reason: 'leading; informers synced' }
          : { ready: false, reason: 'leading; informers not synced yet' };
      default:
        return { ready: false, reason: 'stopped' };
    }
  };

  const server = options.server
    ? await startProcessServer({ registry, ...options.server, ready, logger })
    : null;

  // B.95: grants are recorded under the token's name, and the operator removes only its own.
  const identify = async (waitMs: number): Promise<void> => {
    try {
      const identity = await broker.whoAmI();
      if (state === 'stopped') return;
      operatorTokenName = identity.name;
      if (!identity.admin) logger.warn({ token: identity.name }, 'the operator token is not an admin token');
      logger.info(
        { operatorToken: identity.name, lease: `${settings.podNamespace}/${LEASE_NAME}` },
        'standby',
      );
      state = 'standby';
      elector.start();
    } catch (err) {
      if (state === 'stopped') return;
      logger.warn(
        { err: err instanceof Error ? err.message : String(err), retryInMs: waitMs },
        'cannot learn the operator token name from the broker yet',
      );
      identifyTimer = setTimeout(() => void identify(Math.min(IDENTIFY_RETRY_MAX_MS, waitMs * 2)), waitMs);
    }
  };
  await options.tokenFile?.ready;
  await identify(IDENTIFY_RETRY_MIN_MS);

  return {
    get leading() {
      return state === 'leading';
    },
    get operatorTokenName() {
      return operatorTokenName;
    },
    ready,
    server,
    registry,
    async stop() {
      if (state === 'stopped') return;
      state = 'stopped';
      if (identifyTimer) clearTimeout(identifyTimer);
      const ending = term;
      term = null;
      await Promise.all([stopped, ending?.stop()]);
      await elector.stop();
      metrics.setLeader(false);
      await server?.close();
    },
  };
}

/** What one leadership term runs. */
interface Term {
  controller: Controller;
  stop(): Promise<void>;
}

function startTerm(
  settings: OperatorSettings,
  options: OperatorOptions,
  deps: {
    kubeConfig: KubeConfig;
    broker: OperatorBrokerClient;
    metrics: OperatorMetrics;
    operatorTokenName: string;
  },
): Term {
  const onRequest = (verb: string, code: string) => deps.metrics.kubeRequest(verb, code);
  const kube = new KubeClient({
    kubeConfig: deps.kubeConfig,
    limiter: new TokenBucket(settings.qps, settings.burst),
    onRequest,
  });
  const eventKube = new KubeClient({ kubeConfig: deps.kubeConfig, onRequest });
  const events = new EventRecorder(eventKube, {
    instance: settings.podName,
    logger: options.logger,
    limiter: new TokenBucket(EVENT_QPS, EVENT_BURST),
    onDropped: () => deps.metrics.eventDropped(),
  });
  const ended = new AbortController();
  const controller = new Controller({
    kube,
    writer: new ApiKubeWriter(kube, events),
    broker: termBroker(deps.broker, ended.signal),
    settings,
    operatorTokenName: deps.operatorTokenName,
    reconcile: options.reconcile,
    logger: options.logger,
    metrics: deps.metrics,
    rosterSource: `operator:${settings.podNamespace}/${LEASE_NAME}`,
    ...(options.workers === undefined ? {} : { workers: options.workers }),
    ...(options.rosterDebounceMs === undefined ? {} : { rosterDebounceMs: options.rosterDebounceMs }),
  });
  controller.start().catch((err: unknown) => {
    if (controller.running || kube.stopped) return;
    options.logger.error({ err: String(err) }, 'the controller failed to start');
  });
  return {
    controller,
    async stop() {
      ended.abort();
      kube.stop();
      eventKube.stop();
      await controller.stop();
    },
  };
}
