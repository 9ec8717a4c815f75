/**
 * One Hand run (B.14): at most four provider calls on a fresh context, ending in a result
 * envelope. A Hand gets only the tools it names (the knowledge tools, B.78); a call of any other
 * tool gets an error result naming the ones it has.
 */
import type { ClaimedDispatch, ResultEnvelope } from '../../protocol/index.js';
import type { ContextMessage } from '../session/context.pure.js';
import { contextWindowFor, costUsd } from '../providers/models.js';
import { defaultMaxOutputTokens } from '../session/compaction.pure.js';
import {
  ProviderCallError,
  type Provider,
  type ProviderRequest,
  type ProviderResult,
} from '../providers/provider.js';
import type { ToolRegistry } from '../loop/tools.js';
import { assembleHandSystemPrompt, renderInvocation } from './hand-prompt.pure.js';

export const MAX_HAND_CALLS = 4;

export interface HandRunDeps {
  provider: Provider;
  call(provider: Provider, request: ProviderRequest, signal: AbortSignal): Promise<ProviderResult>;
  /** A model answered whose price is unknown: its cost counts as 0 (B.19). */
  unknownPrice(model: string): void;
  /** The tools the Hand names, ready to call for this dispatch. */
  tools: ToolRegistry;
}

/** Why a run was stopped from outside: the abort signal's reason. */
export type StopReason = 'aborted' | 'timeout' | 'shutdown';

export async function runHand(
  dispatch: ClaimedDispatch,
  deps: HandRunDeps,
  signal: AbortSignal,
): Promise<ResultEnvelope> {
  const config = dispatch.provider;
  // Registration refuses a provider block whose window is unknown (B.19), so this is a guard.
  const window = contextWindowFor(config);
  if (window === null)
    return {
      status: 'error',
      summary: '',
      artifacts: [],
      usage: { input_tokens: 0, output_tokens: 0, cost_usd: 0 },
      error: `provider.context_window: unknown for model ${config.model ?? '(none)'}`,
    };
  const model = config.model ?? 'scripted';
  const messages: ContextMessage[] = [{ role: 'user', content: renderInvocation(dispatch) }];
  const usage = { input_tokens: 0, output_tokens: 0, cost_usd: 0 };
  let summary = '';
  try {
    for (let call = 1; call <= MAX_HAND_CALLS; call++) {
      const result = await deps.call(
        deps.provider,
        {
          model,
          system: assembleHandSystemPrompt(dispatch),
          messages,
          tools: deps.tools.specs(),
          maxOutputTokens: config.max_output_tokens ?? defaultMaxOutputTokens(window),
        },
        signal,
      );
      const input =
        result.usage.input_tokens +
        result.usage.cache_read_input_tokens +
        result.usage.cache_creation_input_tokens;
      usage.input_tokens += input;
      usage.output_tokens += result.usage.output_tokens;
      const cost = costUsd(result.model, input, result.usage.output_tokens);
      if (cost === null && deps.provider.kind !== 'scripted') deps.unknownPrice(result.model);
      usage.cost_usd += cost ?? 0;
      summary = result.content;
      if (result.toolCalls.length === 0) break;
      messages.push({ role: 'assistant', content: result.content, tool_calls: result.toolCalls });
      for (const toolCall of result.toolCalls) {
        const outcome = await deps.tools.execute(toolCall.name, toolCall.input, {
          threadId: dispatch.thread_id,
          idempotencyKey: `${dispatch.id}:${dispatch.attempt}:${toolCall.id}`.slice(0, 128),
          signal,
        });
        messages.push({
          role: 'tool',
          tool_call_id: toolCall.id,
          content: outcome.content,
          is_error: outcome.isError,
        });
      }
    }
    return { status: 'ok', summary, artifacts: [], usage };
  } catch (err) {
    if (signal.aborted) {
      const reason = signal.reason as StopReason;
      return {
        status: reason === 'timeout' ? 'timeout' : 'aborted',
        summary,
        artifacts: [],
        usage,
        error: reason === 'timeout' ? 'the dispatch reached its deadline' : `stopped: ${reason}`,
      };
    }
    const message =
      err instanceof ProviderCallError ? `${err.failure.kind}: ${err.failure.message}` : String(err);
    return { status: 'error', summary, artifacts: [], usage, error: message.slice(0, 4000) };
  }
}
