/**
 * A Chat Completions double (STYLE rule 19) that the real `openai` SDK talks to:
 * `POST /v1/chat/completions` answers JSON, or `data:` chunks ending `data: [DONE]` when `stream`
 * is true (a usage chunk first when `stream_options.include_usage` asks for it). Every request is
 * recorded; turns come from a queue the test fills, with a default text reply when it is empty.
 * Tool messages must answer a tool call of the assistant message before them, as the real API checks.
 * `POST /v1/embeddings` answers one deterministic vector per input text, of `dimensions` numbers
 * (default `embeddingSize`, else 1536), as the real API does for text-embedding-3 models.
 */
import type http from 'node:http';
import {
  openEventStream,
  pieces,
  roughTokens,
  sendJson,
  startHttpDouble,
  untilClosed,
  type HttpDouble,
  type RecordedRequest,
} from './http-double.js';

/** One scripted answer of the double. */
export interface OpenAITurn {
  text?: string;
  toolCalls?: { id?: string; name: string; input: unknown }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number; cached_tokens?: number };
  /** Leave usage out even when the client asked for it (as some local servers do). */
  omitUsage?: boolean;
  finishReason?: string;
  /** Stream the first content delta, then hold the stream open until the client goes away. */
  stall?: boolean;
}

export interface OpenAIDouble extends HttpDouble {
  /** What to give the SDK as `baseURL`: the origin with `/v1`. */
  baseURL: string;
  reply(turn: OpenAITurn): void;
  /** Queues an HTTP error for the next call; the body defaults to the API's error shape. */
  fail(status: number, body?: unknown, headers?: Record<string, string>): void;
  completionRequests(): RecordedRequest[];
  embeddingRequests(): RecordedRequest[];
}

type Queued = { turn: OpenAITurn } | { status: number; body: unknown; headers: Record<string, string> };

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'invalid_api_key',
  403: 'permission_denied',
  429: 'rate_limit_exceeded',
  500: 'server_error',
  503: 'server_error',
};

export function openAIError(status: number, message = `error ${status}`): unknown {
  const type = ERROR_TYPES[status] ?? 'server_error';
  return { error: { message, type, param: null, code: type } };
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The first rule of the real API a body breaks, or null. */
export function checkCompletionBody(body: unknown): string | null {
  if (!isRecord(body)) return 'body: expected a JSON object';
  if (typeof body.model !== 'string' || body.model === '') return 'model: required';
  if (!Array.isArray(body.messages) || body.messages.length === 0) return 'messages: must not be empty';
  let open = new Set<string>();
  for (const [i, message] of (body.messages as unknown[]).entries()) {
    if (!isRecord(message)) return `messages[${i}]: expected an object`;
    if (message.role === 'tool') {
      if (!open.has(String(message.tool_call_id)))
        return `messages[${i}]: a tool message must answer a tool_call of the preceding assistant message`;
      continue;
    }
    open = new Set(
      message.role === 'assistant' && Array.isArray(message.tool_calls)
        ? (message.tool_calls as Record<string, unknown>[]).map((c) => String(c.id))
        : [],
    );
  }
  return null;
}

export async function startOpenAIDouble(
  options: {
    defaultText?: string;
    /** Embedding length when a request names no `dimensions`. */ embeddingSize?: number;
  } = {},
): Promise<OpenAIDouble> {
  const queue: Queued[] = [];
  let nextId = 1;

  async function answer(request: RecordedRequest, res: http.ServerResponse, req: http.IncomingMessage) {
    if (!request.headers.authorization) return sendJson(res, 401, openAIError(401, 'no credential'));
    const problem = checkCompletionBody(request.body);
    if (problem) return sendJson(res, 400, openAIError(400, problem));
    const body = request.body as Record<string, unknown>;
    const queued = queue.shift() ?? { turn: { text: options.defaultText ?? 'Hello from the double.' } };
    if ('status' in queued) return sendJson(res, queued.status, queued.body, queued.headers);
    const { turn } = queued;
    const toolCalls = (turn.toolCalls ?? []).map((c) => ({
      id: c.id ?? `call_${nextId++}`,
      type: 'function',
      function: { name: c.name, arguments: JSON.stringify(c.input) },
    }));
    const text = turn.text ?? (toolCalls.length > 0 ? '' : 'Hello from the double.');
    const cached = turn.usage?.cached_tokens ?? 0;
    const prompt = turn.usage?.prompt_tokens ?? roughTokens({ messages: body.messages, tools: body.tools });
    const completion = turn.usage?.completion_tokens ?? roughTokens(text + JSON.stringify(toolCalls));
    const usage = {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
      prompt_tokens_details: { cached_tokens: cached },
    };
    const finishReason = turn.finishReason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop');
    const base = { id: `chatcmpl-${nextId++}`, created: 1_700_000_000, model: body.model };

    if (body.stream !== true) {
      const message = {
        role: 'assistant',
        content: text || null,
        ...(toolCalls.length ? { tool_calls: toolCalls } : {}),
      };
      return sendJson(res, 200, {
        ...base,
        object: 'chat.completion',
        choices: [{ index: 0, message, finish_reason: finishReason }],
        ...(turn.omitUsage ? {} : { usage }),
      });
    }
    const sse = openEventStream(res);
    const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
      sse.send({
        ...base,
        object: 'chat.completion.chunk',
        choices: [{ index: 0, delta, finish_reason: finish }],
      });
    chunk({ role: 'assistant', content: '' });
    for (const piece of pieces(text)) {
      chunk({ content: piece });
      if (turn.stall) return untilClosed(req, res);
    }
    for (const [index, call] of toolCalls.entries()) {
      chunk({
        tool_calls: [
          { index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } },
        ],
      });
      const args = call.function.arguments;
      for (let at = 0; at < args.length; at += 8)
        chunk({ tool_calls: [{ index, function: { arguments: args.slice(at, at + 8) } }] });
    }
    chunk({}, finishReason);
    const streamOptions = body.stream_options as { include_usage?: boolean } | undefined;
    if (streamOptions?.include_usage && !turn.omitUsage)
      sse.send({ ...base, object: 'chat.completion.chunk', choices: [], usage });
    sse.send('[DONE]');
    sse.end();
  }

  function embeddings(request: RecordedRequest, res: http.ServerResponse) {
    if (!request.headers.authorization) return sendJson(res, 401, openAIError(401, 'no credential'));
    const body = isRecord(request.body) ? request.body : {};
    const input = typeof body.input === 'string' ? [body.input] : body.input;
    if (typeof body.model !== 'string' || !Array.isArray(input) || input.some((t) => typeof t !== 'string'))
      return sendJson(res, 400, openAIError(400, 'model and input (text or a list of texts) are required'));
    const dimensions =
      typeof body.dimensions === 'number' ? body.dimensions : (options.embeddingSize ?? 1536);
    const vectorOf = (text: string) => {
      let seed = [...text].reduce((h, c) => (h * 31 + (c.codePointAt(0) ?? 0)) % 1_000_003, 7);
      return Array.from({ length: dimensions }, () => {
        seed = (seed * 48_271) % 2_147_483_647;
        return (seed % 2000) / 1000 - 1;
      });
    };
    return sendJson(res, 200, {
      object: 'list',
      model: body.model,
      data: (input as string[]).map((text, index) => ({
        object: 'embedding',
        index,
        embedding: vectorOf(text),
      })),
      usage: { prompt_tokens: roughTokens(input), total_tokens: roughTokens(input) },
    });
  }

  const double = await startHttpDouble(
    { '/v1/chat/completions': answer, '/v1/embeddings': embeddings },
    (res) => sendJson(res, 404, openAIError(404, 'not found')),
  );
  return {
    ...double,
    baseURL: `${double.url}/v1`,
    reply: (turn) => queue.push({ turn }),
    fail: (status, body, headers = {}) => queue.push({ status, body: body ?? openAIError(status), headers }),
    completionRequests: () => double.requests.filter((r) => r.path === '/v1/chat/completions'),
    embeddingRequests: () => double.requests.filter((r) => r.path === '/v1/embeddings'),
  };
}
