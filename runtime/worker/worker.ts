/**
 * `nexus worker`: claims dispatches, runs each Hand, completes it (SPEC section 6, B.14, B.75).
 * It holds no state: a killed worker loses nothing, its leases expire and the broker requeues.
 * Each of `slots` loops long-polls for one dispatch at a time. While a dispatch runs, its lease is
 * renewed every `renewS`; the broker's answer can stop it (abort, deadline), and a 409 means the
 * lease is gone, so the run stops and reports nothing.
 *
 * A claim refused with a 401 ends the worker once `refusals` says so (B.80); every other failure
 * is retried with backoff, one log line each. Ready means its last claim reached the broker: the
 * first claim after a start or a failure does not wait, so readiness is known at once.
 */
import { ClaimedDispatch, WireError, type ResultEnvelope } from '../../protocol/index.js';
import {
  failureLine,
  numberSetting,
  type Logger,
  type Readiness,
  type TokenRefusals,
} from '../../platform/index.js';
import { NO_METRICS, type RuntimeMetrics } from '../observability/runtime-events.js';
import { observedProvider } from '../providers/observed.js';
import { BrokerClient } from '../../client/index.js';
import { brokerCredential, type CredentialSource } from '../credentials.js';
import { callWithRetry, createProvider, credentialNameFor, offlineReason } from '../providers/registry.js';
import { createScriptedProvider } from '../providers/scripted.js';
import { handToolRegistry } from '../loop/knowledge-tools.js';
import { retryingPoster } from '../loop/broker-retry.js';
import { providerEmbedder } from '../loop/embedder.js';
import { runHand, type StopReason } from './hand-run.js';

export interface WorkerOptions {
  url: string;
  token: () => string;
  workerId: string;
  slots: number;
  logger: Logger;
  /** Lease renewal interval (HAND_LEASE_RENEW_S, default 10). */
  renewS: number;
  /** The broker's lease length (HAND_LEASE_S, default 30): unrenewed this long, a run stops. */
  leaseS: number;
  /** On stop, how long running Hands may finish before they are handed back. */
  graceS: number;
  /** B.80: which claim refusals are permanent, and when. */
  refusals: TokenRefusals;
  /** The broker refused the token for good (B.80); the caller ends the process with `line`. */
  onTokenRefused: (line: string) => void;
  metrics?: RuntimeMetrics;
  /** Where `NEXUS_TOOL_RETRY_S` is read; default process.env. */
  env?: Record<string, string | undefined>;
}

export interface RunningWorker {
  /** Ready means the last claim reached the broker (`/readyz`). */
  ready(): Readiness;
  /** Stops claiming; running Hands get `graceS` (default the option's) before they are handed back. */
  stop(graceS?: number): Promise<void>;
}

const CLAIM_WAIT_S = 25;

export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const { logger, workerId } = options;
  const broker = new BrokerClient({
    url: options.url,
    token: options.token,
    timeoutMs: (CLAIM_WAIT_S + 10) * 1000,
  });
  const metrics = options.metrics ?? NO_METRICS;
  // B.110: a Hand's knowledge calls retry transient failures as a turn's do, within its deadline.
  const toolBroker = retryingPoster(
    broker,
    { windowMs: numberSetting(options.env ?? process.env, 'NEXUS_TOOL_RETRY_S', 60, 0, 3600) * 1000 },
    logger,
  );
  /** Whether the last claim reached the broker (null before the first answer). */
  let claimsReach: boolean | null = null;
  const running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  let stopping = false;

  const lease = (d: ClaimedDispatch) => ({ worker_id: workerId, attempt: d.attempt });

  async function run(d: ClaimedDispatch, controller: AbortController): Promise<void> {
    const started = Date.now();
    const stop = (reason: StopReason | 'lost') => {
      if (!controller.signal.aborted) controller.abort(reason);
    };
    const deadline = setTimeout(() => stop('timeout'), Math.max(0, Date.parse(d.deadline_at) - Date.now()));
    // Fencing: a worker that cannot renew for a whole lease must assume the broker has requeued
    // the dispatch, and stop, so two runs never overlap (fault 5).
    let renewedAt = Date.now();
    const heartbeat = setInterval(() => {
      if (Date.now() - renewedAt > options.leaseS * 1000) return stop('lost');
      broker.post<{ abort: boolean }>(`/v1/workers/dispatches/${d.id}/heartbeat`, lease(d)).then(
        (reply) => {
          renewedAt = Date.now();
          if (reply.abort) stop(Date.now() >= Date.parse(d.deadline_at) ? 'timeout' : 'aborted');
        },
        (err: unknown) => {
          if (err instanceof WireError && err.code === 'conflict') stop('lost');
          else
            logger.warn(
              { err: failureLine(err), dispatch: d.id },
              'lease renewal failed; retrying at the next interval',
            );
        },
      );
    }, options.renewS * 1000);

    try {
      let envelope: ResultEnvelope;
      try {
        const name = credentialNameFor(d.provider);
        const credential: CredentialSource | null =
          name === null
            ? null
            : brokerCredential(broker, name, { lease: { dispatch_id: d.id, ...lease(d) } });
        const offline = await offlineReason(d.provider, credential, name);
        if (offline !== null)
          logger.warn({ dispatch: d.id }, `running offline on the scripted provider: ${offline}`);
        // Provider series are the hosting aspect's (B.60).
        const provider = observedProvider(
          offline !== null
            ? createScriptedProvider({ script: d.script ?? null })
            : createProvider(
                d.provider,
                credential ? () => credential.get() : null,
                d.script ?? null,
                `dispatch ${d.id}`,
              ),
          d.target,
          metrics,
        );
        const call = callWithRetry(() => (offline !== null ? null : credential));
        const unknownPrice = (model: string) =>
          logger.warn(
            { dispatch: d.id, model },
            'no price known for this model; its cost counts as 0 (B.19)',
          );
        const tools = handToolRegistry(d.hand_definition.tools, toolBroker, {
          lease: { dispatch_id: d.id, ...lease(d) },
          embed: providerEmbedder(provider, logger),
        });
        envelope = await runHand(d, { provider, call, unknownPrice, tools }, controller.signal);
      } catch (err) {
        envelope = {
          status: 'error',
          summary: '',
          artifacts: [],
          usage: { input_tokens: 0, output_tokens: 0, cost_usd: 0 },
          error: String(err),
        };
      } finally {
        clearTimeout(deadline);
      }
      const reason = controller.signal.reason as StopReason | 'lost' | undefined;
      if (reason === 'lost')
        return void logger.warn({ dispatch: d.id }, 'lease lost; the broker has moved on');
      // Only a run the shutdown actually cut short goes back; one that finished is reported.
      if (reason === 'shutdown' && envelope.status === 'aborted') {
        await broker.post(`/v1/workers/dispatches/${d.id}/release`, lease(d)).catch((err: unknown) => {
          logger.warn({ err: failureLine(err), dispatch: d.id }, 'release failed; the lease will expire');
        });
        return;
      }
      // The heartbeat keeps running while the completion is retried, so the lease stays ours.
      await complete(d, envelope, controller.signal);
      metrics.record({
        type: 'hand:finished',
        status: envelope.status,
        seconds: (Date.now() - started) / 1000,
      });
    } finally {
      clearInterval(heartbeat);
    }
  }

  async function complete(d: ClaimedDispatch, envelope: ResultEnvelope, lost: AbortSignal): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await broker.post(`/v1/workers/dispatches/${d.id}/complete`, { ...lease(d), ...envelope });
        logger.info({ dispatch: d.id, status: envelope.status }, 'dispatch completed');
        return;
      } catch (err) {
        if (err instanceof WireError && err.status < 500) {
          return void logger.warn({ err: failureLine(err), dispatch: d.id }, 'completion refused');
        }
        if (lost.reason === 'lost')
          return void logger.warn(
            { err: failureLine(err), dispatch: d.id },
            'completion failed and the lease is gone',
          );
        await sleep(Math.min(4000, 250 * 2 ** attempt));
      }
    }
  }

  async function slot(index: number): Promise<void> {
    let failures = 0;
    let answered = false;
    while (!stopping) {
      let reply: { status: number; body: { dispatch?: unknown } | undefined };
      try {
        // The first claim after a start or a failure does not wait, so readiness is known at once.
        const waitS = answered && failures === 0 ? CLAIM_WAIT_S : 0;
        reply = await broker.call('POST', '/v1/workers/claim', { worker_id: workerId, wait_s: waitS });
        options.refusals.accepted();
        if (claimsReach === false) logger.info({ slot: index }, 'claims reach the broker again');
        claimsReach = true;
        answered = true;
        failures = 0;
      } catch (err) {
        claimsReach = false;
        const refusedForGood = options.refusals.check(err);
        if (refusedForGood !== null) {
          stopping = true;
          options.onTokenRefused(refusedForGood);
          return;
        }
        failures += 1;
        const delay = options.refusals.nextDelayMs(Math.min(10_000, 250 * 2 ** failures));
        // One line per retry, without a stack (B.80).
        logger.warn({ err: failureLine(err), slot: index, retryInMs: delay }, 'claim failed; backing off');
        await sleep(delay);
        continue;
      }
      if (reply.status === 204 || !reply.body?.dispatch) continue;
      const dispatch = ClaimedDispatch.parse(reply.body.dispatch);
      if (stopping) {
        await broker
          .post(`/v1/workers/dispatches/${dispatch.id}/release`, lease(dispatch))
          .catch(() => undefined);
        break;
      }
      const controller = new AbortController();
      const done = run(dispatch, controller).finally(() => running.delete(dispatch.id));
      running.set(dispatch.id, { controller, done });
      await done;
    }
  }

  for (let i = 0; i < options.slots; i++) void slot(i);
  logger.info({ workerId, slots: options.slots }, 'worker started');

  return {
    ready: () =>
      claimsReach === true
        ? { ready: true, reason: 'the last claim reached the broker' }
        : { ready: false, reason: claimsReach === null ? 'no claim answered yet' : 'the last claim failed' },
    async stop(graceS = options.graceS) {
      stopping = true;
      const finished = Promise.all([...running.values()].map((r) => r.done));
      const graceOver = sleep(graceS * 1000).then(() => 'grace' as const);
      if ((await Promise.race([finished, graceOver])) === 'grace') {
        for (const r of running.values()) if (!r.controller.signal.aborted) r.controller.abort('shutdown');
        await finished;
      }
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
