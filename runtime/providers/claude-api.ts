/**
 * The `claude-api` provider (SPEC section 7, B.49, B.53): the Messages API through
 * `@anthropic-ai/sdk`, streamed. Text deltas are passed on as they arrive; a `tool_use` block's
 * input is accumulated from its `input_json_delta`s and emitted as one `tool_call` when the block
 * stops. The SDK's own retries are off (`maxRetries: 0`): `retry.ts` retries every provider alike.
 * SDK types stay in this file and `claude-request.ts`.
 */
import Anthropic, { APIConnectionError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import type {
  RawMessageStreamEvent,
  StopReason as ClaudeStopReason,
} from '@anthropic-ai/sdk/resources/messages/messages';
import type { ToolCall, Usage } from '../../protocol/index.js';
import {
  abortedFailure,
  credentialFailure,
  failureFromHttp,
  isNetworkError,
  messageOf,
  networkFailure,
} from './failure.js';
import {
  ProviderCallError,
  type Provider,
  type ProviderEvent,
  type ProviderFailure,
  type ProviderRequest,
  type StopReason,
} from './provider.js';
import { toClaudeBody } from './claude-request.js';

export interface ClaudeProviderOptions {
  /** Fetches the API key (from the broker's credential store); called before every request. */
  apiKey: () => Promise<string>;
  /** The API's origin, without `/v1` (default: the SDK's, https://api.anthropic.com). */
  baseURL?: string;
  /** The model used when a request names none. */
  model?: string;
  /** Per-request timeout of the SDK, in milliseconds (default: the SDK's). */
  timeoutMs?: number;
}

/** Anthropic's stop reasons, by ours; the rest (`pause_turn`, `refusal`, …) are `other`. */
const STOP_REASONS: Partial<Record<ClaudeStopReason, StopReason>> = {
  end_turn: 'end_turn',
  tool_use: 'tool_use',
  max_tokens: 'max_tokens',
  stop_sequence: 'stop_sequence',
};

/** Reduces anything the SDK throws to a failure; the signal decides `aborted` first. */
export function claudeFailure(err: unknown, signal?: AbortSignal): ProviderFailure {
  if (signal?.aborted || err instanceof APIUserAbortError) return abortedFailure();
  if (err instanceof ProviderCallError) return err.failure;
  if (err instanceof APIConnectionError) return networkFailure(err.message);
  if (err instanceof APIError)
    return failureFromHttp({
      status: err.status,
      errorType: err.type,
      message: err.message,
      headers: err.headers,
    });
  if (isNetworkError(err)) return networkFailure(messageOf(err));
  return { kind: 'other', message: messageOf(err), retryable: false };
}

/** One stream's accumulating state. */
interface StreamState {
  model: string;
  text: string;
  toolCalls: ToolCall[];
  usage: Usage;
  stopReason: StopReason;
  /** Open tool_use blocks by index, with their input JSON so far. */
  open: Map<number, { id: string; name: string; json: string }>;
  stopped: boolean;
}

/** Applies one stream event to the state and returns the events it produces for the caller. */
function onEvent(state: StreamState, event: RawMessageStreamEvent): ProviderEvent[] {
  switch (event.type) {
    case 'message_start': {
      const usage = event.message.usage;
      state.model = event.message.model;
      state.usage = {
        input_tokens: usage.input_tokens ?? 0,
        output_tokens: usage.output_tokens ?? 0,
        cache_read_input_tokens: usage.cache_read_input_tokens ?? 0,
        cache_creation_input_tokens: usage.cache_creation_input_tokens ?? 0,
      };
      return [];
    }
    case 'content_block_start':
      if (event.content_block.type === 'tool_use')
        state.open.set(event.index, { id: event.content_block.id, name: event.content_block.name, json: '' });
      return [];
    case 'content_block_delta':
      if (event.delta.type === 'text_delta') {
        state.text += event.delta.text;
        return [{ type: 'text_delta', text: event.delta.text }];
      }
      if (event.delta.type === 'input_json_delta') {
        const block = state.open.get(event.index);
        if (block) block.json += event.delta.partial_json;
      }
      return [];
    case 'content_block_stop': {
      const block = state.open.get(event.index);
      if (!block) return [];
      state.open.delete(event.index);
      const call: ToolCall = { id: block.id, name: block.name, input: parseToolInput(block) };
      state.toolCalls.push(call);
      return [{ type: 'tool_call', call }];
    }
    case 'message_delta': {
      // Cumulative counts; a field the API leaves out (or sends as null) keeps message_start's value.
      const usage = event.usage;
      if (usage.output_tokens != null) state.usage.output_tokens = usage.output_tokens;
      if (usage.input_tokens != null) state.usage.input_tokens = usage.input_tokens;
      if (usage.cache_read_input_tokens != null)
        state.usage.cache_read_input_tokens = usage.cache_read_input_tokens;
      if (usage.cache_creation_input_tokens != null)
        state.usage.cache_creation_input_tokens = usage.cache_creation_input_tokens;
      if (event.delta.stop_reason) state.stopReason = STOP_REASONS[event.delta.stop_reason] ?? 'other';
      return [];
    }
    case 'message_stop':
      state.stopped = true;
      return [];
  }
}

/** A tool call's input: the accumulated JSON, `{}` when the model sent none. */
function parseToolInput(block: { name: string; json: string }): unknown {
  if (block.json.trim() === '') return {};
  try {
    return JSON.parse(block.json) as unknown;
  } catch {
    throw new ProviderCallError({
      kind: 'other',
      message: `the input of tool call ${block.name} is not valid JSON`,
      retryable: false,
    });
  }
}

/** Builds the provider; one SDK client is kept per API key and rebuilt when the key changes. */
export function createClaudeProvider(options: ClaudeProviderOptions): Provider {
  let cached: { key: string; client: Anthropic } | null = null;
  const clientFor = (key: string): Anthropic => {
    if (cached?.key !== key) {
      const client = new Anthropic({
        apiKey: key,
        maxRetries: 0,
        ...(options.baseURL ? { baseURL: options.baseURL } : {}),
        ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
      });
      cached = { key, client };
    }
    return cached.client;
  };
  const modelOf = (request: ProviderRequest): string => {
    const model = request.model || options.model;
    if (!model)
      throw new ProviderCallError({ kind: 'invalid_request', message: 'no model given', retryable: false });
    return model;
  };

  async function* stream(request: ProviderRequest, signal: AbortSignal): AsyncGenerator<ProviderEvent> {
    let key: string;
    try {
      key = await options.apiKey();
    } catch (err) {
      yield { type: 'error', error: signal.aborted ? abortedFailure() : credentialFailure(err) };
      return;
    }
    const state: StreamState = {
      model: request.model,
      text: '',
      toolCalls: [],
      usage: {
        input_tokens: 0,
        output_tokens: 0,
        cache_read_input_tokens: 0,
        cache_creation_input_tokens: 0,
      },
      stopReason: 'other',
      open: new Map(),
      stopped: false,
    };
    try {
      const events = await clientFor(key).messages.create(
        {
          ...toClaudeBody(request),
          model: modelOf(request),
          max_tokens: request.maxOutputTokens,
          stream: true,
        },
        { signal },
      );
      for await (const event of events) yield* onEvent(state, event);
    } catch (err) {
      yield { type: 'error', error: claudeFailure(err, signal) };
      return;
    }
    // The SDK ends the iteration quietly when the signal aborts mid-stream.
    if (signal.aborted) yield { type: 'error', error: abortedFailure() };
    else if (!state.stopped)
      yield { type: 'error', error: networkFailure('the stream ended before message_stop') };
    else
      yield {
        type: 'done',
        result: {
          content: state.text,
          toolCalls: state.toolCalls,
          usage: state.usage,
          stopReason: state.stopReason,
          model: state.model,
        },
      };
  }

  async function countTokens(request: ProviderRequest): Promise<number> {
    try {
      const key = await options.apiKey().catch((err: unknown) => {
        throw new ProviderCallError(credentialFailure(err));
      });
      const counted = await clientFor(key).messages.countTokens({
        ...toClaudeBody(request),
        model: modelOf(request),
      });
      return counted.input_tokens;
    } catch (err) {
      throw new ProviderCallError(claudeFailure(err));
    }
  }

  return { kind: 'claude-api', stream, countTokens };
}
