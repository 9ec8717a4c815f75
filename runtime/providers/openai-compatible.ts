/**
 * The `openai-compatible` provider (SPEC section 7, B.53): Chat Completions with tools through the
 * `openai` SDK, streamed, for OpenAI, vLLM and Ollama. `max_tokens` or `max_completion_tokens` is
 * sent per `provider.token_param`; `credential: null` (Ollama) sends a placeholder key, since the
 * SDK refuses to start without one. The SDK's own retries are off: `retry.ts` retries.
 *
 * Usage: `prompt_tokens` counts cached tokens too, so `input_tokens` is prompt minus cached and the
 * cached part is `cache_read_input_tokens`, keeping B.49's sum right. A server that reports no
 * usage gets the characters ÷ 4 estimate. There is no token-count endpoint: `countTokens` estimates.
 * With `provider.embedding_model` it also embeds, through the same endpoint (B.90).
 */
import OpenAI, { APIConnectionError, APIError, APIUserAbortError } from 'openai';
import type {
  ChatCompletionChunk,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from 'openai/resources/chat/completions/completions';
import type { ToolCall, Usage } from '../../protocol/index.js';
import type { ContextMessage } from '../session/context.pure.js';
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
  estimateRequestTokens,
  type Provider,
  type ProviderEvent,
  type ProviderFailure,
  type ProviderRequest,
  type StopReason,
} from './provider.js';

export interface OpenAICompatibleOptions {
  /** Fetches the API key; `null` when the server needs none (`provider.credential: null`). */
  apiKey: (() => Promise<string>) | null;
  /** The API base, `/v1` included (default: the SDK's, https://api.openai.com/v1). */
  baseURL?: string;
  /** The model used when a request names none. */
  model?: string;
  /** Which field carries the output limit (`provider.token_param`, default `max_tokens`). */
  tokenParam?: 'max_tokens' | 'max_completion_tokens';
  /** `provider.embedding_model`: with it the provider can `embed` (B.90). */
  embeddingModel?: string;
  timeoutMs?: number;
}

/** Sent when there is no credential: the SDK needs a non-empty key, Ollama ignores it. */
const NO_KEY = 'no-key';

type FinishReason = NonNullable<ChatCompletionChunk.Choice['finish_reason']>;
const STOP_REASONS: Record<FinishReason, StopReason> = {
  stop: 'end_turn',
  tool_calls: 'tool_use',
  function_call: 'tool_use',
  length: 'max_tokens',
  content_filter: 'other',
};

export function openAIFailure(err: unknown, signal?: AbortSignal): ProviderFailure {
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

/** Context messages as Chat Completions messages; runs of user or assistant messages merge. */
export function toOpenAIMessages(
  system: string,
  messages: readonly ContextMessage[],
): ChatCompletionMessageParam[] {
  const out: ChatCompletionMessageParam[] = system === '' ? [] : [{ role: 'system', content: system }];
  for (const message of messages) {
    const last = out.at(-1);
    if (message.role === 'user') {
      if (last?.role === 'user' && typeof last.content === 'string') last.content += `\n\n${message.content}`;
      else out.push({ role: 'user', content: message.content });
    } else if (message.role === 'tool') {
      // Chat Completions has no error flag on a tool result: say it in the content.
      const content = message.is_error ? `Error: ${message.content}` : message.content;
      out.push({ role: 'tool', tool_call_id: message.tool_call_id, content });
    } else {
      out.push({
        role: 'assistant',
        content: message.content === '' ? null : message.content,
        ...(message.tool_calls.length > 0
          ? {
              tool_calls: message.tool_calls.map((call) => ({
                id: call.id,
                type: 'function' as const,
                function: { name: call.name, arguments: JSON.stringify(call.input ?? {}) },
              })),
            }
          : {}),
      });
    }
  }
  return out;
}

function toOpenAITools(request: ProviderRequest): ChatCompletionTool[] {
  return request.tools.map((spec) => ({
    type: 'function',
    function: { name: spec.name, description: spec.description, parameters: spec.input_schema },
  }));
}

function toUsage(usage: NonNullable<ChatCompletionChunk['usage']>): Usage {
  const cached = usage.prompt_tokens_details?.cached_tokens ?? 0;
  return {
    input_tokens: Math.max(0, usage.prompt_tokens - cached),
    output_tokens: usage.completion_tokens,
    cache_read_input_tokens: cached,
    cache_creation_input_tokens: 0,
  };
}

function parseArguments(name: string, json: string): unknown {
  if (json.trim() === '') return {};
  try {
    return JSON.parse(json) as unknown;
  } catch {
    throw new ProviderCallError({
      kind: 'other',
      message: `the arguments of tool call ${name} are not valid JSON`,
      retryable: false,
    });
  }
}

export function createOpenAICompatibleProvider(options: OpenAICompatibleOptions): Provider {
  let cached: { key: string; client: OpenAI } | null = null;
  const clientFor = (key: string): OpenAI => {
    if (cached?.key !== key) {
      const client = new OpenAI({
        apiKey: key,
        maxRetries: 0,
        ...(options.baseURL ? { baseURL: options.baseURL } : {}),
        ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
      });
      cached = { key, client };
    }
    return cached.client;
  };

  async function* stream(request: ProviderRequest, signal: AbortSignal): AsyncGenerator<ProviderEvent> {
    let key = NO_KEY;
    try {
      if (options.apiKey) key = await options.apiKey();
    } catch (err) {
      yield { type: 'error', error: signal.aborted ? abortedFailure() : credentialFailure(err) };
      return;
    }
    let model = request.model || options.model || '';
    let text = '';
    let usage: Usage | null = null;
    let stopReason: StopReason | null = null;
    const calls = new Map<number, { id: string; name: string; args: string }>();
    try {
      const tools = toOpenAITools(request);
      const chunks = await clientFor(key).chat.completions.create(
        {
          model,
          messages: toOpenAIMessages(request.system, request.messages),
          ...(tools.length > 0 ? { tools } : {}),
          ...(options.tokenParam === 'max_completion_tokens'
            ? { max_completion_tokens: request.maxOutputTokens }
            : { max_tokens: request.maxOutputTokens }),
          stream: true,
          stream_options: { include_usage: true },
        },
        { signal },
      );
      for await (const chunk of chunks) {
        if (chunk.model) model = chunk.model;
        if (chunk.usage) usage = toUsage(chunk.usage);
        const choice = chunk.choices[0];
        if (!choice) continue;
        if (choice.delta.content) {
          text += choice.delta.content;
          yield { type: 'text_delta', text: choice.delta.content };
        }
        for (const delta of choice.delta.tool_calls ?? []) {
          const call = calls.get(delta.index) ?? { id: '', name: '', args: '' };
          if (delta.id) call.id = delta.id;
          if (delta.function?.name) call.name += delta.function.name;
          if (delta.function?.arguments) call.args += delta.function.arguments;
          calls.set(delta.index, call);
        }
        if (choice.finish_reason) stopReason = STOP_REASONS[choice.finish_reason] ?? 'other';
      }
    } catch (err) {
      yield { type: 'error', error: openAIFailure(err, signal) };
      return;
    }
    if (signal.aborted) return yield { type: 'error', error: abortedFailure() };
    if (stopReason === null)
      return yield { type: 'error', error: networkFailure('the stream ended without a finish_reason') };
    const toolCalls: ToolCall[] = [];
    try {
      for (const [index, call] of [...calls.entries()].sort(([a], [b]) => a - b))
        toolCalls.push({
          id: call.id || `call_${index}`,
          name: call.name,
          input: parseArguments(call.name, call.args),
        });
    } catch (err) {
      return yield { type: 'error', error: openAIFailure(err) };
    }
    for (const call of toolCalls) yield { type: 'tool_call', call };
    usage ??= {
      input_tokens: estimateRequestTokens(request),
      output_tokens: Math.ceil((text.length + JSON.stringify(toolCalls).length) / 4),
      cache_read_input_tokens: 0,
      cache_creation_input_tokens: 0,
    };
    yield { type: 'done', result: { content: text, toolCalls, usage, stopReason, model } };
  }

  /** `POST /embeddings`; `dimensions` is sent only when asked for (older models refuse it). */
  async function embed(
    texts: string[],
    { dimensions, signal }: { dimensions?: number; signal: AbortSignal },
  ): Promise<number[][]> {
    try {
      const key = options.apiKey ? await options.apiKey() : NO_KEY;
      const reply = await clientFor(key).embeddings.create(
        {
          model: options.embeddingModel as string,
          input: texts,
          encoding_format: 'float',
          ...(dimensions === undefined ? {} : { dimensions }),
        },
        { signal },
      );
      return [...reply.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
    } catch (err) {
      throw new ProviderCallError(openAIFailure(err, signal));
    }
  }

  return {
    kind: 'openai-compatible',
    stream,
    countTokens: (request) => Promise.resolve(estimateRequestTokens(request)),
    ...(options.embeddingModel ? { embed } : {}),
  };
}
