/**
 * The runtime's composition root (`nexus agent HOME`): loads the home, opens sessions, registers,
 * and runs one turn at a time from the inbox. Messages are acknowledged only after the turn that
 * took them is on disk (and its `custom.turn_end` written), and `state.json` follows the ack.
 *
 * States: `starting` → `running` ⇄ `stayed down` → `stopping` → `stopped`. SIGTERM moves to
 * `stopping`: the turn in flight is abandoned without writing its `turn_end`, so after a restart it
 * is resumed (B.46); nothing unprocessed is acknowledged. The `shutdown` control (stay-down, B.81)
 * abandons the turn the same way and takes no new one, without deregistering or exiting; the next
 * welcomed socket (the stay-down cleared, registration accepted) resumes turns, the abandoned one
 * first. A batch whose turn could not begin (B.82) waits unacknowledged, per thread, with backoff.
 */
import { MODELS, type Message } from '../protocol/index.js';
import { numberSetting, type Logger, type Readiness, type TokenRefusals } from '../platform/index.js';
import { loadHome } from './home/home.js';
import { loadState, saveState, type RuntimeState } from './home/state.js';
import { adoptDatabase } from './home/database-identity.js';
import { Sessions } from './session/sessions.js';
import { defaultMaxOutputTokens, defaultReserveTokens, shouldCompact } from './session/compaction.pure.js';
import { assembleSystemPrompt } from './prompt/system-prompt.pure.js';
import { Inbox } from './loop/inbox.js';
import { triage } from './loop/triage.pure.js';
import { offeredToolNames, toolRegistry } from './loop/tool-table.js';
import { activeRetrieval } from './loop/active-retrieval.js';
import { providerEmbedder } from './loop/embedder.js';
import { NO_FACTS, sessionFacts, unfinishedTurn, type SessionFacts } from './loop/session-facts.js';
import { continueTurn, runTurn, TurnNotStarted, type TurnDeps } from './loop/turn.js';
import { TurnLoop } from './loop/turn-loop.js';
import { retryingPoster } from './loop/broker-retry.js';
import { compact } from './loop/compactor.js';
import { crashPoints } from './loop/crash-points.js';
import { BrokerSession } from './broker-session.js';
import { contextWindowFor } from './providers/models.js';
import { estimateRequestTokens, totalTokens } from './providers/provider.js';
import { callWithRetry, chooseProvider } from './providers/registry.js';
import { answerStatelessly } from './loop/stateless.js';
import { ControlQueue } from './control/control-queue.js';
import { observedProvider } from './providers/observed.js';
import { NO_METRICS, type RuntimeMetrics } from './observability/runtime-events.js';

export const RUNTIME_VERSION = '0.1.0';

export interface AgentOptions {
  homeDir: string;
  url: string;
  token: () => string;
  logger: Logger;
  /** B.80: which registration refusals are permanent, and when. */
  refusals: TokenRefusals;
  /** Registration was refused for good (B.80); the caller ends the process with `line`. */
  onTokenRefused: (line: string) => void;
  metrics?: RuntimeMetrics;
  /**
   * The runtime cannot go on without a restart (the broker's database changed under it, B.45); the
   * caller ends the process with `line`, and the next start sets things right.
   */
  onRestartNeeded?: (line: string) => void;
  /** Where `NEXUS_TOOL_RETRY_S` and `NEXUS_REGISTER_RETRY_CAP_S` are read; default process.env. */
  env?: Record<string, string | undefined>;
}

export interface RunningAgent {
  stop(): Promise<void>;
  /** Ready means registered with the broker and the socket open (`/readyz`). */
  ready(): Readiness;
}

export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const { logger } = options;
  const metrics = options.metrics ?? NO_METRICS;
  const env = options.env ?? process.env;
  // B.110: how long a turn's broker call retries transient failures before the model sees them.
  const toolRetryMs = numberSetting(env, 'NEXUS_TOOL_RETRY_S', 60, 0, 3600) * 1000;
  // B.15's 30 s registration cap; tests shorten it to see a cleared stay-down resume quickly.
  const registerCapMs = numberSetting(env, 'NEXUS_REGISTER_RETRY_CAP_S', 30, 0.1, 30) * 1000;
  const home = await loadHome(options.homeDir);
  const state: RuntimeState = await loadState(options.homeDir);
  await saveState(options.homeDir, state);
  const config = home.config;
  const window = contextWindowFor(config.provider);
  if (window === null)
    throw new Error(
      `${options.homeDir}/aspect.json: provider.context_window: is required for model ${config.provider.model}`,
    );
  const maxOutputTokens = config.provider.max_output_tokens ?? defaultMaxOutputTokens(window);
  const reserveTokens = config.compaction.reserve_tokens ?? defaultReserveTokens(window);
  const systemPrompt = assembleSystemPrompt(home.identity);
  // B.56: a repaired or skipped session line is logged and published as an `error` event. Sessions
  // open lazily, after the broker session below exists.
  const sessions = new Sessions(options.homeDir, config.context_mode, (problem) => {
    logger.warn(problem, 'session line repaired or skipped');
    broker.publish('error', undefined, { error: 'session line repaired or skipped', ...problem });
  });
  const inbox = new Inbox(state.last_processed_id);
  const crash = crashPoints();
  const shutdown = new AbortController();
  let compactions = 0;
  let lastCompactionAt: string | undefined;

  // Registered as the aspect's tools, so the roster's capabilities list what is offered (B.58).
  const offeredTools = offeredToolNames(config, logger);

  /** Set at the first welcomed socket: from then on messages may have been taken. */
  let welcomed = false;
  const broker: BrokerSession = new BrokerSession({
    offeredTools,
    url: options.url,
    token: options.token,
    home,
    instanceId: state.instance_id,
    runtimeVersion: RUNTIME_VERSION,
    logger,
    refusals: options.refusals,
    onTokenRefused: options.onTokenRefused,
    resumeAfter: () => inbox.ackPosition,
    onMessage: (message) => {
      inbox.push(message);
      kick();
    },
    onControl: (request) => {
      if (request.action === 'shutdown') return stayDown(request.request_id);
      controls.push(request);
      kick();
    },
    onRegistered: (reply) =>
      adoptDatabase(reply.nexus_instance, {
        home: options.homeDir,
        state,
        logger,
        running: () => welcomed,
        startAfresh: { closeSessions: () => sessions.closeAll(), restartInbox: () => inbox.restartAt('0') },
        ...(options.onRestartNeeded ? { restartNeeded: options.onRestartNeeded } : {}),
      }),
    onConnected: () => {
      welcomed = true;
      if (loop.isStayedDown)
        logger.info({ aspect: config.name }, 'stay-down cleared; taking turns again (B.81)');
      loop.resume();
    },
    maxBackoffMs: registerCapMs,
    stats: () => ({
      sessions: sessions.all().map(({ sid }) => ({ sid, tokens: lastTokens.get(sid) ?? 0, window })),
      compactions,
      ...(lastCompactionAt ? { last_compaction_at: lastCompactionAt } : {}),
      inbox_depth: inbox.depth,
    }),
  });
  const choice = await chooseProvider(home, broker, logger);
  const provider = observedProvider(choice.provider, config.name, metrics);
  const call = callWithRetry(() => choice.credential);
  const model = config.provider.model ?? 'scripted';
  if (provider.kind !== 'scripted' && !(model in MODELS))
    logger.warn({ model }, 'no price known for this model; its cost counts as 0 (B.19)');
  const poster = retryingPoster(broker.http, { windowMs: toolRetryMs }, logger);
  const embed = providerEmbedder(provider, logger); // B.90: hybrid knowledge search
  const tools = toolRegistry(offeredTools, poster, { embed });
  // Not a tool call (B.110): a failed search costs the note, never the turn's start.
  const beforeTurn = activeRetrieval(config, { broker: broker.http, logger, embed });
  /** B.88: turn events carry their session's thread; null for the global session. */
  const sessionThread = (session: TurnDeps['session']): string | null =>
    config.context_mode === 'thread' ? session.header.sid : null;
  const lastTokens = new Map<string, number>();
  metrics.watchContextRatio(config.name, () => Math.max(0, ...lastTokens.values()) / (window as number));
  const controls = new ControlQueue({
    contextMode: config.context_mode,
    session: {
      home: options.homeDir,
      sessions,
      contextMode: config.context_mode,
      window,
      reserveTokens,
      keepRecentTurns: config.compaction.keep_recent_turns,
      tokensOf: (sid) => lastTokens.get(sid) ?? 0,
      summariser: { provider, model, call, signal: shutdown.signal },
    },
    answer: (requestId, outcome) => broker.controlResult(requestId, outcome),
    publish: (kind, threadId, data) => broker.publish(kind, threadId, data),
    compacted: () => {
      compactions++;
      lastCompactionAt = new Date().toISOString();
      metrics.record({ type: 'session:compacted', aspect: config.name });
    },
  });
  const applyPendingControls = (turnThreadId: string | null) => controls.applyPending(turnThreadId);

  /** `taken` collects mid-turn arrivals, so they are acknowledged (or requeued) with the batch (B.17). */
  const turnDeps = (session: TurnDeps['session'], taken: Message[], signal: AbortSignal): TurnDeps => ({
    session,
    systemPrompt,
    provider,
    call,
    tools,
    settings: { model, maxTurns: config.deliberation.max_turns, maxOutputTokens },
    takeArrivals: (threadId) => {
      const arrivals = inbox.takeThread(threadId);
      taken.push(...arrivals);
      const facts = arrivals.length > 0 ? sessionFacts(session) : NO_FACTS;
      return arrivals.filter((m) => takes(m, facts));
    },
    betweenCalls: (threadId) => applyPendingControls(threadId),
    // B.21: a request that would not leave room for the answer compacts first. Estimated from its
    // characters: a count call before every provider call would cost a round trip each.
    fitWindow: async (request) => {
      const estimate = estimateRequestTokens(request);
      return estimate > (window as number) - maxOutputTokens && (await compactSession(session, estimate));
    },
    crash,
    toolCalled: (toolCall) => broker.publish('tool.call', sessionThread(session), toolCall),
    signal,
  });

  const takes = (message: Message, facts: SessionFacts): boolean => {
    const verdict = triage(message, {
      self: config.name,
      lastProcessedId: BigInt(state.last_processed_id),
      alreadyInSession: facts.seen,
      awaitedDispatches: facts.awaited,
    });
    // B.83: a message past the thread's turn limit is recorded, and no turn is taken for it.
    if (!verdict.take && verdict.reason === 'turn_limit')
      logger.info(
        { thread_id: message.thread_id, message_id: message.id, from: message.from },
        'thread turn limit reached: no turn taken until an operator writes in the thread (B.83)',
      );
    return verdict.take;
  };

  /** B.82: the provider's credential is fetched before a turn begins, so a failure leaves it unbegun. */
  async function credentialReady(): Promise<void> {
    try {
      await choice.credential?.get();
    } catch (err) {
      throw new TurnNotStarted(new Error(`the provider credential could not be fetched: ${String(err)}`));
    }
  }

  /**
   * Runs a batch; `taken` starts as its messages and gains the mid-turn arrivals the turn takes.
   * Throws TurnNotStarted when its turn could not begin (B.82).
   */
  async function processBatch(batch: Message[], taken: Message[], signal: AbortSignal): Promise<void> {
    const threadId = (batch[0] as Message).thread_id;
    await credentialReady();
    if (config.context_mode === 'stateless') {
      // One call per message (B.22): a failure costs that message's answer, never the others'.
      for (const message of batch) {
        if (!takes(message, NO_FACTS)) continue;
        try {
          await answerStatelessly(message, {
            self: config.name,
            systemPrompt,
            provider,
            call,
            broker: poster,
            model,
            maxOutputTokens,
            signal,
          });
        } catch (err) {
          if (signal.aborted) throw err; // abandoned: the batch is taken again later
          logger.error({ err: String(err), message_id: message.id }, 'stateless answer failed');
          broker.publish('error', message.thread_id, {
            error: `stateless answer failed: ${String(err)}`,
            message_id: message.id,
          });
        }
      }
      return;
    }
    const session = await sessions.forThread(threadId).catch((err: unknown) => {
      throw new TurnNotStarted(err);
    });
    const unfinished = unfinishedTurn(session);
    const facts = sessionFacts(session);
    const fresh = batch.filter((m) => takes(m, facts));
    if (unfinished && batch.some((m) => unfinished.messageIds.includes(m.id))) {
      logger.info({ thread_id: threadId }, 'resuming an unfinished turn');
      const started = performance.now();
      await afterTurn(
        session,
        await continueTurn(unfinished.threadId, unfinished.messageIds, turnDeps(session, taken, signal)),
        started,
      );
    }
    if (fresh.length === 0) return;
    // B.18: a thread's first batch may bring a knowledge note; one that cannot be written leaves the
    // batch unbegun and unacknowledged (B.82).
    await beforeTurn?.(session, fresh, signal).catch((err: unknown) => {
      if (signal.aborted) throw err;
      throw new TurnNotStarted(err);
    });
    const started = performance.now();
    const outcome = await runTurn(fresh, {
      ...turnDeps(session, taken, signal),
      // Published once `turn.user` is durable: a turn that could not begin never started.
      turnStarted: (messageIds) =>
        broker.publish('turn.start', sessionThread(session), {
          sid: session.header.sid,
          message_ids: messageIds,
        }),
    });
    await afterTurn(session, outcome, started);
  }

  async function afterTurn(
    session: TurnDeps['session'],
    outcome: Awaited<ReturnType<typeof runTurn>>,
    startedAt: number,
  ): Promise<void> {
    const seconds = (performance.now() - startedAt) / 1000;
    metrics.record({ type: 'turn:ended', aspect: config.name, reason: outcome.reason, seconds });
    // Every turn ends with turn.end (B.46, B.88: usage and cost attributed); a failed one is an error too.
    broker.publish('turn.end', sessionThread(session), {
      sid: session.header.sid,
      reason: outcome.reason,
      message_ids: outcome.messageIds,
      usage: outcome.usage,
      cost_usd: outcome.costUsd,
    });
    if (outcome.reason === 'error')
      broker.publish('error', sessionThread(session), {
        error: outcome.error ?? 'turn failed',
        usage: outcome.usage,
      });
    if (!outcome.lastCallUsage) return;
    const tokens = totalTokens(outcome.lastCallUsage);
    lastTokens.set(session.header.sid, tokens);
    if (!shouldCompact(tokens, { window: window as number, reserveTokens })) return;
    await compactSession(session, tokens);
  }

  /** Compacts a session (B.21, B.49); true when a compaction was written. A failure is logged only. */
  async function compactSession(session: TurnDeps['session'], tokens: number): Promise<boolean> {
    try {
      const result = await compact(
        session,
        config.compaction.keep_recent_turns,
        tokens,
        { provider, model, call, signal: shutdown.signal },
        // B.49: the kept turns must fit under the compaction threshold, or lose old tool results.
        { keptBudgetTokens: (window as number) - reserveTokens },
      );
      if (!result) return false;
      compactions++;
      metrics.record({ type: 'session:compacted', aspect: config.name });
      lastCompactionAt = new Date().toISOString();
      lastTokens.set(session.header.sid, result.tokensAfter);
      broker.publish('compaction', sessionThread(session), { sid: session.header.sid, ...result });
      return true;
    } catch (err) {
      logger.warn({ err: String(err) }, 'compaction failed; will try again later');
      return false;
    }
  }

  // Thread mode: every `thread_sweep_interval_s` a sweep is due; the loop runs it between turns,
  // so a session is never reaped while a turn writes to it (SPEC section 7).
  let sweepDue = false;
  const sweepTimer =
    config.context_mode === 'thread'
      ? setInterval(() => {
          sweepDue = true;
          kick();
        }, config.thread_sweep_interval_s * 1000)
      : null;
  sweepTimer?.unref();
  async function reapIdleThreads(): Promise<void> {
    sweepDue = false;
    const reaped = await sessions.reap(config.thread_idle_reap_s * 1000);
    for (const sid of reaped) lastTokens.delete(sid);
    if (reaped.length > 0) logger.info({ sids: reaped }, 'idle thread sessions reaped');
  }

  const loop = new TurnLoop({
    inbox,
    logger,
    processBatch,
    betweenTurns: async () => {
      if (sweepDue) await reapIdleThreads();
      await applyPendingControls(null);
    },
    hasWorkBetweenTurns: () => controls.pending || sweepDue,
    acknowledge: async (id) => {
      state.last_processed_id = id;
      await saveState(options.homeDir, state);
      broker.ack(id);
    },
    publishError: (threadId, data) => broker.publish('error', threadId, data),
    crash,
    shutdown: shutdown.signal,
  });
  const kick = () => loop.kick();

  /**
   * B.81: the `shutdown` control of a stay-down. The turn in flight is abandoned (no `turn_end`,
   * not acknowledged; it resumes later) and no new turn is taken; the runtime neither deregisters nor
   * exits. Answered at once: the broker closes the socket (4403) right after sending it.
   */
  function stayDown(requestId: string): void {
    loop.stayDown();
    broker.controlResult(requestId, { ok: true, result: { applied: true } });
    logger.warn(
      { aspect: config.name },
      'stayed down by an operator: no new turns until it is cleared (B.81)',
    );
  }

  void broker.start();
  logger.info({ aspect: config.name, mode: config.context_mode, provider: provider.kind }, 'runtime started');
  return {
    async stop() {
      shutdown.abort();
      if (sweepTimer) clearInterval(sweepTimer);
      await loop.stopped();
      await sessions.closeAll();
      await broker.stop();
    },
    ready: () =>
      broker.ready
        ? { ready: true, reason: 'registered, socket open' }
        : { ready: false, reason: 'not registered with the socket open' },
  };
}
