/**
 * The runtime's composition root (`nexus agent HOME`): loads the home, opens sessions, registers,
 * and runs one turn at a time from the inbox. Messages are acknowledged only after the turn that
 * took them is on disk (and its `custom.turn_end` written), and `state.json` follows the ack.
 *
 * States: `starting` → `running` → `stopping` → `stopped`. SIGTERM moves to `stopping`: the turn
 * in flight is aborted without writing its `turn_end`, so after a restart it is resumed (B.46);
 * nothing unprocessed is acknowledged.
 */
import type { Message } from '../protocol/index.js';
import type { Logger, Readiness, TokenRefusals } from '../platform/index.js';
import { loadHome } from './home/home.js';
import { loadState, saveState, type RuntimeState } from './home/state.js';
import { Sessions } from './session/sessions.js';
import { defaultMaxOutputTokens, defaultReserveTokens, shouldCompact } from './session/compaction.pure.js';
import { assembleSystemPrompt } from './prompt/system-prompt.pure.js';
import { Inbox } from './loop/inbox.js';
import { triage } from './loop/triage.pure.js';
import { ToolRegistry } from './loop/tools.js';
import { sendMessageTool } from './loop/bus-tools.js';
import { dispatchHandTool } from './loop/hand-tools.js';
import { FRAME_TOOL_FACTORIES, frameOnly } from './loop/frame-tools.js';
import { knowledgeSearchTool, knowledgeStoreTool } from './loop/knowledge-tools.js';
import { activeRetrieval } from './loop/active-retrieval.js';
import { providerEmbedder } from './loop/embedder.js';
import { awaitedDispatches } from './loop/awaited.pure.js';
import { branchTo } from './session/context.pure.js';
import { continueTurn, runTurn, type TurnDeps } from './loop/turn.js';
import { compact } from './loop/compactor.js';
import { crashPoints } from './loop/crash-points.js';
import { BrokerSession } from './broker-session.js';
import { contextWindowFor } from './providers/models.js';
import { estimateRequestTokens, totalTokens } from './providers/provider.js';
import { callWithRetry, chooseProvider } from './providers/registry.js';
import { answerStatelessly } from './loop/stateless.js';
import { applyControl, type SessionControlDeps } from './control/session-control.js';
import { observedProvider } from './providers/observed.js';
import { NO_METRICS, type RuntimeMetrics } from './observability/runtime-events.js';

interface SessionFacts {
  seen: ReadonlySet<string>;
  awaited: ReadonlySet<string>;
}
const NO_FACTS: SessionFacts = { seen: new Set(), awaited: new Set() };

/** The event each state-changing control action publishes when it succeeds. */
const CONTROL_EVENTS: Record<string, string> = {
  rewind: 'rewind',
  fork: 'fork',
  compact: 'compaction',
  'summarise-branch': 'branch_summary',
  activate: 'activate',
};

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
}

export interface RunningAgent {
  stop(): Promise<void>;
  /** Ready means registered with the broker and the socket open (`/readyz`). */
  ready(): Readiness;
  /** Resolves when the inbox is empty and no turn runs (for tests). */
  idle(): Promise<void>;
}

export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const { logger } = options;
  const metrics = options.metrics ?? NO_METRICS;
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

  // B.58: the configured tools whose part is built; the others are skipped with a warning, and
  // stateless aspects answer without tools. Registered as the aspect's tools, so the roster's
  // capabilities list what is actually offered.
  const offeredTools =
    config.context_mode === 'stateless'
      ? []
      : config.tools.filter((name) => name in TOOL_FACTORIES && !frameOnly(name, config.role));
  for (const name of config.tools)
    if (config.context_mode !== 'stateless' && !(name in TOOL_FACTORIES))
      logger.warn({ tool: name }, 'tool not available yet; skipped (B.58)');
    else if (frameOnly(name, config.role))
      logger.warn({ tool: name }, 'admin override offered to the frame only; skipped (B.92)');

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
      controls.push(request);
      kick();
    },
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
  const tools = new ToolRegistry();
  const embed = providerEmbedder(provider, logger); // B.90: hybrid knowledge search
  for (const name of offeredTools)
    tools.register<unknown>(TOOL_FACTORIES[name as keyof typeof TOOL_FACTORIES](broker.http, { embed }));
  const beforeTurn = activeRetrieval(config, { broker: broker.http, logger, embed });
  const lastTokens = new Map<string, number>();
  metrics.watchContextRatio(config.name, () => Math.max(0, ...lastTokens.values()) / (window as number));
  const controls: { request_id: string; action: string; params: unknown }[] = [];
  const controlDeps: SessionControlDeps = {
    home: options.homeDir,
    sessions,
    contextMode: config.context_mode,
    window,
    reserveTokens,
    keepRecentTurns: config.compaction.keep_recent_turns,
    tokensOf: (sid) => lastTokens.get(sid) ?? 0,
    summariser: { provider, model: config.provider.model ?? 'scripted', call, signal: shutdown.signal },
  };

  /** `taken` collects the ids of mid-turn arrivals, so they are acknowledged with the batch (B.17). */
  const turnDeps = (session: TurnDeps['session'], taken: string[]): TurnDeps => ({
    session,
    systemPrompt,
    provider,
    call,
    tools,
    settings: {
      model: config.provider.model ?? 'scripted',
      maxTurns: config.deliberation.max_turns,
      maxOutputTokens,
    },
    takeArrivals: (threadId) => {
      const arrivals = inbox.takeThread(threadId);
      taken.push(...arrivals.map((m) => m.id));
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
    signal: shutdown.signal,
  });

  /**
   * What triage needs from a session, read once per batch: the message ids recorded in its
   * `turn.user` entries (B.17) and the Hand invocations its current branch awaits (B.11).
   */
  const sessionFacts = (session: TurnDeps['session'] | null): SessionFacts => {
    const seen = new Set<string>();
    if (!session) return NO_FACTS;
    for (const e of session.entries)
      if (e.kind === 'turn.user') for (const id of e.payload.message_ids) seen.add(id);
    const branch = session.head ? branchTo(session.entries, session.head).branch : [];
    return { seen, awaited: awaitedDispatches(branch) };
  };

  const takes = (message: Message, facts: SessionFacts): boolean =>
    triage(message, {
      self: config.name,
      lastProcessedId: BigInt(state.last_processed_id),
      alreadyInSession: facts.seen,
      awaitedDispatches: facts.awaited,
    }).take;

  /** Runs a batch; `taken` starts as its ids and gains the mid-turn arrivals the turn takes. */
  async function processBatch(batch: Message[], taken: string[]): Promise<void> {
    const threadId = (batch[0] as Message).thread_id;
    if (config.context_mode === 'stateless') {
      for (const message of batch) {
        if (takes(message, NO_FACTS))
          await answerStatelessly(message, {
            self: config.name,
            systemPrompt,
            provider,
            call,
            broker: broker.http,
            model: config.provider.model ?? 'scripted',
            maxOutputTokens,
            signal: shutdown.signal,
          });
      }
      return;
    }
    const session = await sessions.forThread(threadId);
    const unfinished = unfinishedTurn(session);
    const facts = sessionFacts(session);
    const fresh = batch.filter((m) => takes(m, facts));
    if (unfinished && batch.some((m) => unfinished.messageIds.includes(m.id))) {
      logger.info({ thread_id: threadId }, 'resuming an unfinished turn');
      const started = performance.now();
      await afterTurn(
        session,
        await continueTurn(unfinished.threadId, unfinished.messageIds, turnDeps(session, taken)),
        started,
      );
    }
    if (fresh.length === 0) return;
    await beforeTurn?.(session, fresh); // B.18: a thread's first batch may bring a knowledge note
    broker.publish('turn.start', threadId, { message_ids: fresh.map((m) => m.id) });
    const started = performance.now();
    await afterTurn(session, await runTurn(fresh, turnDeps(session, taken)), started);
  }

  async function afterTurn(
    session: TurnDeps['session'],
    outcome: Awaited<ReturnType<typeof runTurn>>,
    startedAt: number,
  ): Promise<void> {
    const seconds = (performance.now() - startedAt) / 1000;
    metrics.record({ type: 'turn:ended', aspect: config.name, reason: outcome.reason, seconds });
    broker.publish(outcome.reason === 'error' ? 'error' : 'turn.end', undefined, {
      reason: outcome.reason,
      usage: outcome.usage,
      ...(outcome.error ? { error: outcome.error } : {}),
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
        { provider, model: config.provider.model ?? 'scripted', call, signal: shutdown.signal },
        // B.49: the kept turns must fit under the compaction threshold, or lose old tool results.
        { keptBudgetTokens: (window as number) - reserveTokens },
      );
      if (!result) return false;
      compactions++;
      metrics.record({ type: 'session:compacted', aspect: config.name });
      lastCompactionAt = new Date().toISOString();
      lastTokens.set(session.header.sid, result.tokensAfter);
      broker.publish('compaction', undefined, { ...result });
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

  let running: Promise<void> | null = null;
  const idleWaiters: (() => void)[] = [];
  /** Session changes made by control are events too (SPEC section 10: rewind, fork, compaction). */
  function publishControlEvent(
    request: { request_id: string; action: string; params: unknown },
    outcome: Awaited<ReturnType<typeof applyControl>>,
  ): void {
    const kind = CONTROL_EVENTS[request.action];
    if (!kind || !outcome.ok) return;
    if (kind === 'compaction') metrics.record({ type: 'session:compacted', aspect: config.name });
    const params = (request.params ?? {}) as { thread_id?: string };
    broker.publish(kind, params.thread_id, {
      request_id: request.request_id,
      ...(outcome.result as Record<string, unknown>),
    });
  }

  /**
   * Applies the control requests that have arrived, between turns and between the provider calls
   * of a turn (B.48). Returns true when one was a rewind or fork of the session of the turn in
   * progress (`turnThreadId`), which ends that turn.
   */
  async function applyPendingControls(turnThreadId: string | null): Promise<boolean> {
    let endsTurn = false;
    for (const request of controls.splice(0)) {
      const outcome = await applyControl(request.request_id, request.action, request.params, controlDeps);
      broker.controlResult(request.request_id, outcome);
      publishControlEvent(request, outcome);
      const thread = (request.params as { thread_id?: unknown } | null)?.thread_id;
      const ofThisTurn = config.context_mode === 'global' || thread === turnThreadId;
      if (outcome.ok && turnThreadId !== null && ofThisTurn && ['rewind', 'fork'].includes(request.action))
        endsTurn = true;
    }
    return endsTurn;
  }

  function kick(): void {
    running ??= (async () => {
      try {
        while (!shutdown.signal.aborted) {
          if (sweepDue) await reapIdleThreads();
          await applyPendingControls(null);
          const batch = inbox.takeNextBatch();
          if (batch.length === 0) break;
          const taken = batch.map((m) => m.id);
          try {
            await processBatch(batch, taken);
          } catch (err) {
            if (shutdown.signal.aborted) return; // abandoned: redelivered and resumed after restart
            logger.error({ err }, 'turn failed');
            broker.publish('error', batch[0]?.thread_id, { error: `turn failed: ${String(err)}` });
          }
          crash('before-ack');
          const ack = inbox.finish(taken);
          if (ack) {
            state.last_processed_id = ack;
            await saveState(options.homeDir, state);
            broker.ack(ack);
          }
        }
      } finally {
        running = null;
        if ((inbox.depth > 0 || controls.length > 0 || sweepDue) && !shutdown.signal.aborted) kick();
        else for (const resolve of idleWaiters.splice(0)) resolve();
      }
    })();
  }

  void broker.start();
  logger.info({ aspect: config.name, mode: config.context_mode, provider: provider.kind }, 'runtime started');
  return {
    async stop() {
      shutdown.abort();
      if (sweepTimer) clearInterval(sweepTimer);
      await running?.catch(() => undefined);
      await sessions.closeAll();
      await broker.stop();
    },
    ready: () =>
      broker.ready
        ? { ready: true, reason: 'registered, socket open' }
        : { ready: false, reason: 'not registered with the socket open' },
    idle: () =>
      running === null && inbox.depth === 0
        ? Promise.resolve()
        : new Promise((resolve) => idleWaiters.push(resolve)),
  };
}

/** The runtime tools that are built, by name (MCP tools arrive with their part). */
const TOOL_FACTORIES = {
  send_message: sendMessageTool,
  dispatch_hand: dispatchHandTool,
  knowledge_search: knowledgeSearchTool,
  knowledge_store: knowledgeStoreTool,
  ...FRAME_TOOL_FACTORIES,
} as const;

/**
 * The newest turn on the branch if it has no `custom.turn_end` (B.46): walk back from the head to
 * the previous `turn_end`, collecting the message ids of the `turn.user` entries met.
 */
function unfinishedTurn(session: TurnDeps['session']): { threadId: string; messageIds: string[] } | null {
  const messageIds: string[] = [];
  let threadId: string | null = null;
  let current = session.head === null ? undefined : session.get(session.head);
  while (current && current.kind !== 'custom.turn_end') {
    if (current.kind === 'turn.user') {
      messageIds.unshift(...current.payload.message_ids);
      threadId ??= current.payload.thread_id ?? null;
    }
    current = current.parentId === null ? undefined : session.get(current.parentId);
  }
  return threadId !== null && messageIds.length > 0 ? { threadId, messageIds } : null;
}
