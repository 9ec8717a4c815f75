import { startOpenAIDouble, type OpenAIDouble } from '../../testing/index.js';
import type { ContextMessage } from '../session/context.pure.js';
import { createOpenAICompatibleProvider, type OpenAICompatibleOptions } from './openai-compatible.js';
import {
  estimateRequestTokens,
  invoke,
  type Provider,
  type ProviderEvent,
  type ProviderRequest,
} from './provider.js';
import { invokeWithRetry, streamWithRetry } from './retry.js';

let double: OpenAIDouble;

beforeEach(async () => {
  double = await startOpenAIDouble();
});
afterEach(() => double.stop());

function providerWith(options: Partial<OpenAICompatibleOptions> = {}): Provider {
  return createOpenAICompatibleProvider({
    apiKey: async () => 'sk-openai-test',
    baseURL: double.baseURL,
    ...options,
  });
}

function request(messages: ContextMessage[], extra: Partial<ProviderRequest> = {}): ProviderRequest {
  return {
    model: 'gpt-test',
    system: 'You are a test aspect.',
    messages,
    tools: [
      {
        name: 'send_message',
        description: 'Send a message on the bus',
        input_schema: { type: 'object', properties: { content: { type: 'string' } } },
      },
    ],
    maxOutputTokens: 512,
    ...extra,
  };
}

async function collect(events: AsyncIterable<ProviderEvent>): Promise<ProviderEvent[]> {
  const out: ProviderEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

function terminal(events: ProviderEvent[]): ProviderEvent {
  const ends = events.filter((e) => e.type === 'done' || e.type === 'error');
  expect(ends).toHaveLength(1);
  expect(events.at(-1)).toBe(ends[0]);
  return ends[0] as ProviderEvent;
}

const noRetryWait = { baseMs: 1, capMs: 5 };
const hello: ContextMessage[] = [{ role: 'user', content: 'hello' }];
const bodyOf = (i: number) => double.completionRequests()[i]?.body as Record<string, unknown>;

describe('openai-compatible provider against the Chat Completions double', () => {
  it('streams text as several deltas and ends with one done', async () => {
    double.reply({ text: 'Streaming over chat completions.' });
    const events = await collect(providerWith().stream(request(hello), new AbortController().signal));
    expect(events.filter((e) => e.type === 'text_delta').length).toBeGreaterThan(1);
    expect(terminal(events)).toMatchObject({
      type: 'done',
      result: {
        content: 'Streaming over chat completions.',
        stopReason: 'end_turn',
        model: 'gpt-test',
        toolCalls: [],
      },
    });
  });

  it('sends the key, the system prompt first, the tools, max_tokens by default and asks for usage', async () => {
    await invoke(providerWith(), request(hello), new AbortController().signal);
    const sent = double.completionRequests()[0];
    expect(sent?.headers.authorization).toBe('Bearer sk-openai-test');
    expect(bodyOf(0)).toMatchObject({
      model: 'gpt-test',
      max_tokens: 512,
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        { role: 'system', content: 'You are a test aspect.' },
        { role: 'user', content: 'hello' },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'send_message',
            description: 'Send a message on the bus',
            parameters: { type: 'object', properties: { content: { type: 'string' } } },
          },
        },
      ],
    });
    expect(bodyOf(0)).not.toHaveProperty('max_completion_tokens');
  });

  it('sends max_completion_tokens when token_param says so', async () => {
    await invoke(
      providerWith({ tokenParam: 'max_completion_tokens' }),
      request(hello),
      new AbortController().signal,
    );
    expect(bodyOf(0)).toMatchObject({ max_completion_tokens: 512 });
    expect(bodyOf(0)).not.toHaveProperty('max_tokens');
  });

  it('works without a credential (Ollama), sending a placeholder key', async () => {
    const result = await invoke(providerWith({ apiKey: null }), request(hello), new AbortController().signal);
    expect(result.content).toBe('Hello from the double.');
    expect(double.completionRequests()[0]?.headers.authorization).toBe('Bearer no-key');
  });

  it('assembles streamed tool calls and sends the round trip back as tool_calls and a tool message', async () => {
    const input = { content: 'a message long enough to arrive in several argument pieces' };
    double.reply({ toolCalls: [{ id: 'call_abc', name: 'send_message', input }] });
    const provider = providerWith();
    const events = await collect(provider.stream(request(hello), new AbortController().signal));
    expect(events.filter((e) => e.type === 'tool_call')).toEqual([
      { type: 'tool_call', call: { id: 'call_abc', name: 'send_message', input } },
    ]);
    expect(terminal(events)).toMatchObject({ type: 'done', result: { stopReason: 'tool_use', content: '' } });

    double.reply({ text: 'Sent.' });
    const context: ContextMessage[] = [
      ...hello,
      { role: 'assistant', content: '', tool_calls: [{ id: 'call_abc', name: 'send_message', input }] },
      { role: 'tool', tool_call_id: 'call_abc', content: 'no such peer', is_error: true },
      { role: 'user', content: 'first late message' },
      { role: 'user', content: 'second late message' },
    ];
    const result = await invoke(provider, request(context), new AbortController().signal);
    expect(result.content).toBe('Sent.');
    expect(bodyOf(1).messages).toEqual([
      { role: 'system', content: 'You are a test aspect.' },
      { role: 'user', content: 'hello' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_abc',
            type: 'function',
            function: { name: 'send_message', arguments: JSON.stringify(input) },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_abc', content: 'Error: no such peer' },
      { role: 'user', content: 'first late message\n\nsecond late message' },
    ]);
  });

  it('maps usage: cached prompt tokens become cache reads and are not counted twice as input', async () => {
    double.reply({ text: 'ok', usage: { prompt_tokens: 1200, completion_tokens: 40, cached_tokens: 1000 } });
    const result = await invoke(providerWith(), request(hello), new AbortController().signal);
    expect(result.usage).toEqual({
      input_tokens: 200,
      output_tokens: 40,
      cache_read_input_tokens: 1000,
      cache_creation_input_tokens: 0,
    });
  });

  it('estimates usage when the server reports none', async () => {
    double.reply({ text: 'no usage here', omitUsage: true });
    const req = request(hello);
    const result = await invoke(providerWith(), req, new AbortController().signal);
    expect(result.usage.input_tokens).toBe(estimateRequestTokens(req));
    expect(result.usage.output_tokens).toBeGreaterThan(0);
  });

  it('counts tokens as characters ÷ 4 of the request, with no call to the server', async () => {
    const req = request(hello);
    expect(await providerWith().countTokens(req)).toBe(
      Math.ceil(JSON.stringify({ system: req.system, messages: req.messages, tools: req.tools }).length / 4),
    );
    expect(double.requests).toHaveLength(0);
  });
});

describe('openai-compatible failures', () => {
  it('retries a 429 with streamWithRetry, honouring retry-after, then succeeds', async () => {
    double.fail(429, undefined, { 'retry-after': '0' });
    double.reply({ text: 'after the rate limit' });
    const kinds: string[] = [];
    const events = await collect(
      streamWithRetry(providerWith(), request(hello), new AbortController().signal, {
        ...noRetryWait,
        onRetry: ({ failure, delayMs }) => kinds.push(`${failure.kind}:${failure.retryAfterS}:${delayMs}`),
      }),
    );
    expect(kinds).toEqual(['rate_limited:0:0']);
    expect(terminal(events)).toMatchObject({ type: 'done', result: { content: 'after the rate limit' } });
    expect(double.completionRequests()).toHaveLength(2);
  });

  it('does not retry a 401: one auth failure', async () => {
    double.fail(401);
    const events = await collect(
      streamWithRetry(providerWith(), request(hello), new AbortController().signal, noRetryWait),
    );
    expect(events).toEqual([
      { type: 'error', error: expect.objectContaining({ kind: 'auth', retryable: false, status: 401 }) },
    ]);
    expect(double.completionRequests()).toHaveLength(1);
  });

  it('maps 400 to invalid_request and 500 to server', async () => {
    double.fail(400);
    await expect(
      invokeWithRetry(providerWith(), request(hello), new AbortController().signal, noRetryWait),
    ).rejects.toMatchObject({
      failure: { kind: 'invalid_request', retryable: false, status: 400 },
    });
    double.fail(500);
    await expect(
      invokeWithRetry(providerWith(), request(hello), new AbortController().signal, {
        ...noRetryWait,
        maxAttempts: 1,
      }),
    ).rejects.toMatchObject({ failure: { kind: 'server', retryable: true, status: 500 } });
  });

  it('reports a tool result that answers no tool call as invalid_request, as the API does', async () => {
    const events = await collect(
      providerWith().stream(
        request([{ role: 'tool', tool_call_id: 'nope', content: 'x', is_error: false }]),
        new AbortController().signal,
      ),
    );
    expect(terminal(events)).toMatchObject({
      type: 'error',
      error: { kind: 'invalid_request', status: 400 },
    });
  });

  it('ends with aborted when the signal fires mid-stream', async () => {
    double.reply({ text: 'this reply stalls after its first word', stall: true });
    const controller = new AbortController();
    const events: ProviderEvent[] = [];
    for await (const event of providerWith().stream(request(hello), controller.signal)) {
      events.push(event);
      if (event.type === 'text_delta') controller.abort();
    }
    expect(events.map((e) => e.type)).toEqual(['text_delta', 'error']);
    expect(terminal(events)).toMatchObject({ type: 'error', error: { kind: 'aborted', retryable: false } });
  });
});
