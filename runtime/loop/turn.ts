/**
 * One turn (B.46): an inbound batch of one thread and its provider calls, up to `maxTurns` calls.
 * Every step is appended to the session before the next one starts; tool calls and control requests
 * run between calls (a rewind or fork of this session ends the turn, B.48); messages of the same
 * thread that arrive mid-turn join the next call. The turn ends with
 * `custom.turn_end {reason, message_ids, usage}`; tool calls left unexecuted get error results so
 * the next request is valid.
 */
import { createHash } from 'node:crypto';
import type { Message, ToolCall, Usage } from '../../protocol/index.js';
import { buildContext } from '../session/context.pure.js';
import type { SessionFile } from '../session/session-file.js';
import { renderBatch } from '../prompt/render.pure.js';
import {
  ProviderCallError,
  type Provider,
  type ProviderRequest,
  type ProviderResult,
} from '../providers/provider.js';
import { costUsd } from '../providers/models.js';
import type { ToolRegistry } from './tools.js';
import type { CrashPoint } from './crash-points.js';

export type TurnEndReason = 'done' | 'max_turns' | 'error' | 'control';

export interface TurnSettings {
  model: string;
  maxTurns: number;
  maxOutputTokens: number;
}

export interface TurnDeps {
  session: SessionFile;
  systemPrompt: string;
  provider: Provider;
  /** Calls the provider with retries; the default is a single call. */
  call(provider: Provider, request: ProviderRequest, signal: AbortSignal): Promise<ProviderResult>;
  tools: ToolRegistry;
  settings: TurnSettings;
  /** Takes (and removes) inbox messages of `threadId` that arrived since the turn began. */
  takeArrivals(threadId: string): Message[];
  /**
   * Runs between provider calls (control requests, B.48); true ends the turn with reason
   * `control` (a rewind or fork of this session).
   */
  betweenCalls(threadId: string): Promise<boolean>;
  /** Before each provider call (B.21): compacts the session if `request` would not fit; true if it did. */
  fitWindow(request: ProviderRequest): Promise<boolean>;
  crash: (point: CrashPoint) => void;
  /** Told when a fresh turn's `turn.user` is durable (the `turn.start` event). */
  turnStarted?(messageIds: string[]): void;
  /** Told after each tool call (the `tool.call` event, B.88). */
  toolCalled(call: { tool: string; call_id: string; ok: boolean; ms: number }): void;
  /** Aborted when the turn is abandoned (shutdown, stay-down): it ends without `turn_end`. */
  signal: AbortSignal;
}

/**
 * The turn could not begin: its `turn.user` entry is not durable (B.82). The batch stays
 * unacknowledged and is tried again later; `cause` says why.
 */
export class TurnNotStarted extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'TurnNotStarted';
  }
}

export interface TurnOutcome {
  reason: TurnEndReason;
  messageIds: string[];
  usage: Usage;
  /** Usage of the last provider call: what compaction reads (B.21). */
  lastCallUsage: Usage | null;
  /** USD of the turn's provider calls at the model's price (0 for an unknown price, B.19). */
  costUsd: number;
  error?: string;
}

const ZERO_USAGE: Usage = {
  input_tokens: 0,
  output_tokens: 0,
  cache_read_input_tokens: 0,
  cache_creation_input_tokens: 0,
};

function addUsage(a: Usage, b: Usage): Usage {
  return {
    input_tokens: a.input_tokens + b.input_tokens,
    output_tokens: a.output_tokens + b.output_tokens,
    cache_read_input_tokens: a.cache_read_input_tokens + b.cache_read_input_tokens,
    cache_creation_input_tokens: a.cache_creation_input_tokens + b.cache_creation_input_tokens,
  };
}

/** B.47's key, hashed when a provider's tool call id would make it longer than the 128 allowed. */
export function idempotencyKeyFor(assistantEntryId: string, toolCallId: string): string {
  const key = `${assistantEntryId}:${toolCallId}`;
  return key.length <= 128
    ? key
    : `${assistantEntryId}:${createHash('sha256').update(toolCallId).digest('base64url')}`;
}

/** Makes sure the newest system prompt on the branch is the assembled one. */
export async function ensureSystemPrompt(session: SessionFile, systemPrompt: string): Promise<void> {
  const current = session.head === null ? null : buildContext(session.entries, session.head).system;
  if (current !== systemPrompt)
    await session.append([{ kind: 'system.prompt', payload: { text: systemPrompt } }]);
}

/** Begins a turn with its durable `turn.user` entry (failing before it: TurnNotStarted), then runs it. */
export async function runTurn(batch: Message[], deps: TurnDeps): Promise<TurnOutcome> {
  const { session } = deps;
  const threadId = (batch[0] as Message).thread_id;
  const messageIds = batch.map((m) => m.id);
  try {
    await ensureSystemPrompt(session, deps.systemPrompt);
    await session.append([
      {
        kind: 'turn.user',
        payload: { content: renderBatch(batch), message_ids: messageIds, thread_id: threadId },
      },
    ]);
  } catch (err) {
    throw new TurnNotStarted(err);
  }
  deps.crash('after-user-append');
  deps.turnStarted?.(messageIds);
  return continueTurn(threadId, messageIds, deps);
}

/**
 * Runs provider calls from the current head: used for a fresh turn and to resume an unfinished one
 * after a crash (B.17: a tool call without a result is executed again, with the same key).
 */
export async function continueTurn(
  threadId: string,
  messageIds: string[],
  deps: TurnDeps,
): Promise<TurnOutcome> {
  const { session, settings } = deps;
  let usage = ZERO_USAGE;
  let lastCallUsage: Usage | null = null;
  let cost = 0;
  await executePendingToolCalls(threadId, deps);

  for (let call = 0; call < settings.maxTurns; call++) {
    const arrivals = deps.takeArrivals(threadId);
    if (arrivals.length > 0) {
      messageIds.push(...arrivals.map((m) => m.id));
      await session.append([
        {
          kind: 'turn.user',
          payload: {
            content: renderBatch(arrivals),
            message_ids: arrivals.map((m) => m.id),
            thread_id: threadId,
          },
        },
      ]);
    }
    const requestFromSession = (): ProviderRequest => {
      const context = buildContext(session.entries, session.head);
      return {
        model: settings.model,
        system: context.system ?? deps.systemPrompt,
        messages: context.messages,
        tools: deps.tools.specs(),
        maxOutputTokens: settings.maxOutputTokens,
        cacheSystem: true,
      };
    };
    let request = requestFromSession();
    if (await deps.fitWindow(request)) request = requestFromSession();
    let result: ProviderResult;
    try {
      result = await deps.call(deps.provider, request, deps.signal);
    } catch (err) {
      // Cut short by shutdown: no turn_end, so the turn resumes after a restart (the batch is not acked).
      if (deps.signal.aborted) throw err;
      const message =
        err instanceof ProviderCallError ? `${err.failure.kind}: ${err.failure.message}` : String(err);
      return endTurn(deps, {
        reason: 'error',
        messageIds,
        usage,
        lastCallUsage,
        costUsd: cost,
        error: message,
      });
    }
    usage = addUsage(usage, result.usage);
    lastCallUsage = result.usage;
    cost += callCostUsd(result.model, result.usage);
    await session.append([
      {
        kind: 'turn.assistant',
        payload: {
          content: result.content,
          tool_calls: result.toolCalls,
          usage: result.usage,
          model: result.model,
          stop_reason: result.stopReason,
        },
      },
    ]);
    deps.crash('after-assistant-append');
    if (result.toolCalls.length === 0)
      return endTurn(deps, { reason: 'done', messageIds, usage, lastCallUsage, costUsd: cost });
    if (call === settings.maxTurns - 1) break;
    await executePendingToolCalls(threadId, deps);
    if (await deps.betweenCalls(threadId))
      return endTurn(deps, { reason: 'control', messageIds, usage, lastCallUsage, costUsd: cost });
  }
  await closeUnansweredToolCalls(deps.session, 'not executed: max_turns');
  return endTurn(deps, { reason: 'max_turns', messageIds, usage, lastCallUsage, costUsd: cost });
}

/** Tool calls of the newest assistant entry on the branch that have no result yet. */
function unansweredToolCalls(session: SessionFile): { assistantId: string; calls: ToolCall[] } | null {
  const context = buildContext(session.entries, session.head);
  const entries = context.entries;
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i];
    if (entry?.kind !== 'turn.assistant') continue;
    const answered = new Set(
      entries.slice(i + 1).flatMap((e) => (e.kind === 'turn.tool_result' ? [e.payload.tool_call_id] : [])),
    );
    const calls = entry.payload.tool_calls.filter((c) => !answered.has(c.id));
    return calls.length > 0 ? { assistantId: entry.id, calls } : null;
  }
  return null;
}

/** Executes the newest assistant entry's unanswered tool calls, appending one result per call. */
async function executePendingToolCalls(threadId: string, deps: TurnDeps): Promise<void> {
  const pending = unansweredToolCalls(deps.session);
  if (!pending) return;
  for (const call of pending.calls) {
    // Stay-down or SIGTERM: no further tool call goes out (B.81), and one cut short is not recorded,
    // so the resumed turn runs it again with the same idempotency key (B.17).
    deps.signal.throwIfAborted();
    const started = Date.now();
    const outcome = await deps.tools.execute(call.name, call.input, {
      threadId,
      idempotencyKey: idempotencyKeyFor(pending.assistantId, call.id),
      signal: deps.signal,
    });
    deps.signal.throwIfAborted();
    deps.toolCalled({ tool: call.name, call_id: call.id, ok: !outcome.isError, ms: Date.now() - started });
    await deps.session.append([
      {
        kind: 'turn.tool_result',
        payload: { tool_call_id: call.id, content: outcome.content, is_error: outcome.isError },
      },
    ]);
    deps.crash('after-tool-result');
  }
}

/** Closes unanswered tool calls with error results (max_turns, rewind), so the next request is valid. */
export async function closeUnansweredToolCalls(session: SessionFile, reason: string): Promise<void> {
  const pending = unansweredToolCalls(session);
  if (!pending) return;
  await session.append(
    pending.calls.map((call) => ({
      kind: 'turn.tool_result' as const,
      payload: { tool_call_id: call.id, content: reason, is_error: true },
    })),
  );
}

async function endTurn(deps: TurnDeps, outcome: TurnOutcome): Promise<TurnOutcome> {
  await deps.session.append([
    {
      kind: 'custom.turn_end',
      payload: {
        reason: outcome.reason,
        message_ids: outcome.messageIds,
        usage: outcome.usage,
        cost_usd: outcome.costUsd,
        ...(outcome.error ? { error: outcome.error } : {}),
      },
    },
  ]);
  return outcome;
}

/** A call's cost, its cache reads and writes counted as input (as Hand runs count them). */
function callCostUsd(model: string, usage: Usage): number {
  const input = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens;
  return costUsd(model, input, usage.output_tokens) ?? 0;
}
