/**
 * The one interface every LLM provider implements (SPEC section 7, B.53; STYLE rule 15).
 * `stream` yields deltas and ends with exactly one `done` or `error` event (an abort is an
 * `error` whose `kind` is `aborted`). Provider types never leak past the adapter: requests and
 * results speak the runtime's provider-neutral context messages.
 */
import type { ToolCall, Usage } from '../../protocol/index.js';
import type { ContextMessage } from '../session/context.pure.js';

/** A tool offered to the model: a name, a description and a JSON Schema for its input. */
export interface ToolSpec {
  name: string;
  description: string;
  input_schema: Record<string, unknown>;
}

export interface ProviderRequest {
  model: string;
  system: string;
  messages: ContextMessage[];
  tools: ToolSpec[];
  maxOutputTokens: number;
  /** Marks for prompt caching (B.49): the system prompt and the latest compaction summary. */
  cacheSystem?: boolean;
}

export type StopReason = 'end_turn' | 'tool_use' | 'max_tokens' | 'stop_sequence' | 'other';

export interface ProviderResult {
  content: string;
  toolCalls: ToolCall[];
  usage: Usage;
  stopReason: StopReason;
  model: string;
}

/** Why a call failed: the runtime retries `retryable` ones with backoff; `auth` refetches the credential. */
export interface ProviderFailure {
  kind:
    'auth' | 'rate_limited' | 'overloaded' | 'server' | 'invalid_request' | 'network' | 'aborted' | 'other';
  message: string;
  retryable: boolean;
  status?: number;
  retryAfterS?: number;
}

export type ProviderEvent =
  | { type: 'text_delta'; text: string }
  | { type: 'tool_call'; call: ToolCall }
  | { type: 'done'; result: ProviderResult }
  | { type: 'error'; error: ProviderFailure };

export interface Provider {
  readonly kind: 'claude-api' | 'openai-compatible' | 'scripted';
  stream(request: ProviderRequest, signal: AbortSignal): AsyncIterable<ProviderEvent>;
  /** Tokens the request would use as input (used only when a response carries no usage, B.21). */
  countTokens(request: ProviderRequest): Promise<number>;
  /**
   * One embedding per text, in order, for hybrid knowledge search (B.90); present only on a
   * provider configured to embed (`provider.embedding_model`). Throws a `ProviderCallError`.
   */
  embed?(texts: string[], options: { dimensions?: number; signal: AbortSignal }): Promise<number[][]>;
}

/** Collects a stream into its result, or throws a `ProviderCallError` carrying the failure. */
export async function invoke(
  provider: Provider,
  request: ProviderRequest,
  signal: AbortSignal,
): Promise<ProviderResult> {
  let failure: ProviderFailure | null = null;
  for await (const event of provider.stream(request, signal)) {
    if (event.type === 'done') return event.result;
    if (event.type === 'error') failure = event.error;
  }
  throw new ProviderCallError(
    failure ?? { kind: 'other', message: 'the provider stream ended without a result', retryable: false },
  );
}

/** A failed provider call, carrying its classified failure. */
export class ProviderCallError extends Error {
  constructor(readonly failure: ProviderFailure) {
    super(failure.message);
    this.name = 'ProviderCallError';
  }
}

/** Total tokens of a call as B.49 counts them: input, cache reads and writes, and output. */
export function totalTokens(usage: Usage): number {
  return (
    usage.input_tokens +
    usage.cache_read_input_tokens +
    usage.cache_creation_input_tokens +
    usage.output_tokens
  );
}

/** Characters ÷ 4 over what a request sends: the estimate where no count is at hand. */
export function estimateRequestTokens(request: ProviderRequest): number {
  const text = JSON.stringify({ system: request.system, messages: request.messages, tools: request.tools });
  return Math.ceil(text.length / 4);
}
