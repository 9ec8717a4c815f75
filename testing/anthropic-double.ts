/**
 * A Messages API double (STYLE rule 19) that the real `@anthropic-ai/sdk` talks to:
 * `POST /v1/messages` answers JSON, or server-sent events when `stream` is true (message_start,
 * content_block_start/delta/stop for text and tool_use with input_json_delta, message_delta with
 * usage and stop_reason, message_stop); `POST /v1/messages/count_tokens` answers `{input_tokens}`.
 * Every request is recorded so tests can assert what the SDK sent. Turns come from a queue the test
 * fills (`reply`, `fail`); an empty queue gives a default text reply. Bodies are checked for the
 * rules the real API enforces (alternating roles, no empty text, tool results answering the
 * previous tool uses), so a mapping mistake fails here as it would in production.
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

export interface ClaudeTurnUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
}

/** One scripted answer of the double. */
export interface ClaudeTurn {
  text?: string;
  toolCalls?: { id?: string; name: string; input: unknown }[];
  usage?: ClaudeTurnUsage;
  stopReason?: string;
  /** Stream the first text delta, then hold the stream open until the client goes away. */
  stall?: boolean;
  /** Right after message_start, send an SSE `error` event of this type (as the API does when overloaded). */
  streamError?: { type: string; message: string };
  /**
   * Answer only once this settles: the call is recorded at once, so a test can see that the runtime
   * is inside a provider call and keep it there for as long as it needs, then release it.
   */
  hold?: Promise<void>;
}

export interface AnthropicDouble extends HttpDouble {
  /** Queues a turn for the next `/v1/messages` call. */
  reply(turn: ClaudeTurn): void;
  /** Queues an HTTP error for the next `/v1/messages` call; the body defaults to the API's error shape. */
  fail(status: number, body?: unknown, headers?: Record<string, string>): void;
  /** The recorded `/v1/messages` requests. */
  messageRequests(): RecordedRequest[];
}

type Queued = { turn: ClaudeTurn } | { status: number; body: unknown; headers: Record<string, string> };

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

export function anthropicError(status: number, message = `error ${status}`): unknown {
  return { type: 'error', error: { type: ERROR_TYPES[status] ?? 'api_error', message } };
}

type Block = Record<string, unknown>;
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The first rule of the real API a body breaks, or null. */
export function checkMessagesBody(body: unknown, forCounting: boolean): string | null {
  if (!isRecord(body)) return 'body: expected a JSON object';
  if (typeof body.model !== 'string' || body.model === '') return 'model: Field required';
  if (!forCounting && (typeof body.max_tokens !== 'number' || body.max_tokens < 1))
    return 'max_tokens: Field required';
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    return 'messages: at least one message is required';
  let previousToolUses = new Set<string>();
  for (const [i, message] of (body.messages as unknown[]).entries()) {
    if (!isRecord(message)) return `messages.${i}: expected an object`;
    const expected = i % 2 === 0 ? 'user' : 'assistant';
    if (message.role !== expected) return `messages.${i}.role: roles must alternate, starting with user`;
    const blocks: Block[] =
      typeof message.content === 'string'
        ? [{ type: 'text', text: message.content }]
        : (message.content as Block[]);
    if (!Array.isArray(blocks) || blocks.length === 0) return `messages.${i}.content: must not be empty`;
    const toolUses = new Set<string>();
    let seenOther = false;
    for (const [j, block] of blocks.entries()) {
      const where = `messages.${i}.content.${j}`;
      if (block.type === 'text' && (typeof block.text !== 'string' || block.text === ''))
        return `${where}: text content blocks must be non-empty`;
      if (block.type === 'tool_use') toolUses.add(String(block.id));
      if (block.type === 'tool_result') {
        if (seenOther) return `${where}: tool_result blocks must come first in the user message`;
        if (!previousToolUses.has(String(block.tool_use_id)))
          return `${where}: unexpected tool_use_id ${String(block.tool_use_id)} in tool_result`;
      } else seenOther = true;
    }
    previousToolUses = toolUses;
  }
  return null;
}

export async function startAnthropicDouble(options: { defaultText?: string } = {}): Promise<AnthropicDouble> {
  const queue: Queued[] = [];
  let nextId = 1;

  const inputTokens = (body: Record<string, unknown>) =>
    roughTokens({ system: body.system, messages: body.messages, tools: body.tools });

  async function answer(request: RecordedRequest, res: http.ServerResponse, req: http.IncomingMessage) {
    if (!request.headers.authorization && !request.headers['x-api-key'])
      return sendJson(res, 401, anthropicError(401, 'no credential'));
    const problem = checkMessagesBody(request.body, false);
    if (problem) return sendJson(res, 400, anthropicError(400, problem));
    const body = request.body as Record<string, unknown>;
    const queued = queue.shift() ?? { turn: { text: options.defaultText ?? 'Hello from the double.' } };
    if ('status' in queued) return sendJson(res, queued.status, queued.body, queued.headers);
    const { turn } = queued;
    if (turn.hold) await turn.hold;
    const toolCalls = (turn.toolCalls ?? []).map((c) => ({
      id: c.id ?? `toolu_${nextId++}`,
      name: c.name,
      input: c.input,
    }));
    const text = turn.text ?? (toolCalls.length > 0 ? '' : 'Hello from the double.');
    const usage = {
      input_tokens: turn.usage?.input_tokens ?? inputTokens(body),
      output_tokens: turn.usage?.output_tokens ?? roughTokens(text + JSON.stringify(toolCalls)),
      cache_read_input_tokens: turn.usage?.cache_read_input_tokens ?? 0,
      cache_creation_input_tokens: turn.usage?.cache_creation_input_tokens ?? 0,
    };
    const stopReason = turn.stopReason ?? (toolCalls.length > 0 ? 'tool_use' : 'end_turn');
    const message = {
      id: `msg_${nextId++}`,
      type: 'message',
      role: 'assistant',
      model: body.model,
      stop_sequence: null,
    };
    const content: Block[] = [
      ...(text ? [{ type: 'text', text }] : []),
      ...toolCalls.map((c) => ({ type: 'tool_use', ...c })),
    ];
    if (body.stream !== true)
      return sendJson(res, 200, { ...message, content, stop_reason: stopReason, usage });

    const sse = openEventStream(res);
    const send = (data: Record<string, unknown>) => sse.send(data, String(data.type));
    send({
      type: 'message_start',
      message: { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } },
    });
    if (turn.streamError) {
      sse.send({ type: 'error', error: turn.streamError }, 'error');
      return sse.end();
    }
    sse.send({ type: 'ping' }, 'ping');
    for (const [index, block] of content.entries()) {
      if (block.type === 'text') {
        send({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
        for (const piece of pieces(String(block.text))) {
          send({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } });
          if (turn.stall) return untilClosed(req, res);
        }
      } else {
        send({ type: 'content_block_start', index, content_block: { ...block, input: {} } });
        const json = JSON.stringify(block.input);
        for (let at = 0; at < json.length; at += 8)
          send({
            type: 'content_block_delta',
            index,
            delta: { type: 'input_json_delta', partial_json: json.slice(at, at + 8) },
          });
      }
      send({ type: 'content_block_stop', index });
    }
    send({
      type: 'message_delta',
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage: { output_tokens: usage.output_tokens },
    });
    send({ type: 'message_stop' });
    sse.end();
  }

  const double = await startHttpDouble(
    {
      '/v1/messages': answer,
      '/v1/messages/count_tokens': (request, res) => {
        const problem = checkMessagesBody(request.body, true);
        if (problem) return sendJson(res, 400, anthropicError(400, problem));
        sendJson(res, 200, { input_tokens: inputTokens(request.body as Record<string, unknown>) });
      },
    },
    (res) => sendJson(res, 404, anthropicError(404, 'not found')),
  );
  return {
    ...double,
    reply: (turn) => queue.push({ turn }),
    fail: (status, body, headers = {}) =>
      queue.push({ status, body: body ?? anthropicError(status), headers }),
    messageRequests: () => double.requests.filter((r) => r.path === '/v1/messages'),
  };
}
