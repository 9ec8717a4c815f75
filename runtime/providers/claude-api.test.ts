import { startAnthropicDouble, type AnthropicDouble } from '../../testing/index.js';
import type { ContextMessage } from '../session/context.pure.js';
import { createClaudeProvider } from './claude-api.js';
import { invoke, totalTokens, type Provider, type ProviderEvent, type ProviderRequest } from './provider.js';
import { invokeWithRetry, streamWithRetry } from './retry.js';

let double: AnthropicDouble;
let provider: Provider;
let keys: string[];

beforeEach(async () => {
  double = await startAnthropicDouble();
  keys = ['sk-ant-test-1'];
  provider = createClaudeProvider({ apiKey: async () => keys[0] ?? '', baseURL: double.url });
});
afterEach(() => double.stop());

function request(messages: ContextMessage[], extra: Partial<ProviderRequest> = {}): ProviderRequest {
  return {
    model: 'claude-test-1',
    system: 'You are a test aspect.',
    messages,
    tools: [
      {
        name: 'send_message',
        description: 'Send a message on the bus',
        input_schema: { type: 'object', properties: { content: { type: 'string' } }, required: ['content'] },
      },
    ],
    maxOutputTokens: 1024,
    ...extra,
  };
}

async function collect(events: AsyncIterable<ProviderEvent>): Promise<ProviderEvent[]> {
  const out: ProviderEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

/** Every stream ends with exactly one `done` or `error`, and nothing after it. */
function terminal(events: ProviderEvent[]): ProviderEvent {
  const ends = events.filter((e) => e.type === 'done' || e.type === 'error');
  expect(ends).toHaveLength(1);
  expect(events.at(-1)).toBe(ends[0]);
  return ends[0] as ProviderEvent;
}

const noRetryWait = { baseMs: 1, capMs: 5 };
const hello: ContextMessage[] = [{ role: 'user', content: 'hello' }];

type Body = {
  system?: unknown;
  messages: { role: string; content: Record<string, unknown>[] }[];
  stream?: boolean;
  model?: string;
  max_tokens?: number;
  tools?: unknown[];
};
const bodyOf = (i: number) => double.messageRequests()[i]?.body as Body;

describe('claude-api provider against the Messages API double', () => {
  it('streams text as several deltas and ends with one done carrying the whole text', async () => {
    double.reply({ text: 'Hello there, this is streamed.' });
    const events = await collect(provider.stream(request(hello), new AbortController().signal));
    const deltas = events.filter((e) => e.type === 'text_delta');
    expect(deltas.length).toBeGreaterThan(1);
    const end = terminal(events);
    expect(end).toMatchObject({
      type: 'done',
      result: {
        content: 'Hello there, this is streamed.',
        toolCalls: [],
        stopReason: 'end_turn',
        model: 'claude-test-1',
      },
    });
    expect(deltas.map((d) => (d.type === 'text_delta' ? d.text : '')).join('')).toBe(
      'Hello there, this is streamed.',
    );
  });

  it('sends the bearer key, the API version, the model, the limit and stream: true', async () => {
    await invoke(provider, request(hello), new AbortController().signal);
    const sent = double.messageRequests()[0];
    expect(sent?.headers.authorization).toBe('Bearer sk-ant-test-1');
    expect(sent?.headers['anthropic-version']).toBe('2026-10-21');
    expect(sent?.headers['x-stainless-retry-count']).toBe('0');
    expect(bodyOf(0)).toMatchObject({
      model: 'claude-test-1',
      max_tokens: 1024,
      stream: true,
      system: 'You are a test aspect.',
    });
    expect(bodyOf(0).tools).toEqual([
      {
        name: 'send_message',
        description: 'Send a message on the bus',
        input_schema: { type: 'object', properties: { content: { type: 'string' } }, required: ['content'] },
      },
    ]);
  });

  it('fetches the key for every call, so a rotated credential is used at once', async () => {
    await invoke(provider, request(hello), new AbortController().signal);
    keys[0] = 'sk-ant-test-2';
    await invoke(provider, request(hello), new AbortController().signal);
    expect(double.messageRequests().map((r) => r.headers.authorization)).toEqual([
      'Bearer sk-ant-test-1',
      'Bearer sk-ant-test-2',
    ]);
  });

  it('emits a tool_use block as one tool_call with its input assembled from the JSON deltas', async () => {
    const input = { content: 'a longer message so the JSON arrives in several pieces', to: ['bob'] };
    double.reply({ text: 'Sending.', toolCalls: [{ id: 'toolu_A', name: 'send_message', input }] });
    const events = await collect(provider.stream(request(hello), new AbortController().signal));
    expect(events.filter((e) => e.type === 'tool_call')).toEqual([
      { type: 'tool_call', call: { id: 'toolu_A', name: 'send_message', input } },
    ]);
    expect(terminal(events)).toMatchObject({
      type: 'done',
      result: { content: 'Sending.', stopReason: 'tool_use', toolCalls: [{ id: 'toolu_A', input }] },
    });
  });

  it('sends a tool round trip back as tool_use and tool_result blocks, merging same-role runs', async () => {
    double.reply({ toolCalls: [{ id: 'toolu_1', name: 'send_message', input: { content: 'hi' } }] });
    const first = await invoke(provider, request(hello), new AbortController().signal);
    const context: ContextMessage[] = [
      { role: 'user', content: '[Knowledge found for this thread]\n[]', note: true },
      ...hello,
      { role: 'assistant', content: first.content, tool_calls: first.toolCalls },
      { role: 'tool', tool_call_id: 'toolu_1', content: '{"id":"7"}', is_error: false },
      { role: 'user', content: 'a message that arrived mid-turn' },
    ];
    double.reply({ text: 'Sent.' });
    const second = await invoke(provider, request(context), new AbortController().signal);
    expect(second.content).toBe('Sent.');
    expect(bodyOf(1).messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: '[Knowledge found for this thread]\n[]' },
          { type: 'text', text: 'hello' },
        ],
      },
      {
        role: 'assistant',
        content: [{ type: 'tool_use', id: 'toolu_1', name: 'send_message', input: { content: 'hi' } }],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '{"id":"7"}', is_error: false },
          { type: 'text', text: 'a message that arrived mid-turn' },
        ],
      },
    ]);
  });

  it('reports usage with cache reads and writes, which B.49 counts in the total', async () => {
    double.reply({
      text: 'ok',
      usage: {
        input_tokens: 12,
        output_tokens: 7,
        cache_read_input_tokens: 3000,
        cache_creation_input_tokens: 450,
      },
    });
    const result = await invoke(
      provider,
      request(hello, { cacheSystem: true }),
      new AbortController().signal,
    );
    expect(result.usage).toEqual({
      input_tokens: 12,
      output_tokens: 7,
      cache_read_input_tokens: 3000,
      cache_creation_input_tokens: 450,
    });
    expect(totalTokens(result.usage)).toBe(3469);
  });

  it('marks the system prompt and the leading summary note for caching when cacheSystem is set', async () => {
    const context: ContextMessage[] = [
      { role: 'user', content: '[Summary of the conversation so far]\nWe agreed on a plan.', note: true },
      { role: 'assistant', content: 'Noted.', tool_calls: [] },
      { role: 'user', content: '[Summary of the conversation so far]\nnot a leading note', note: true },
    ];
    await invoke(provider, request(context, { cacheSystem: true }), new AbortController().signal);
    const body = bodyOf(0);
    expect(body.system).toEqual([
      { type: 'text', text: 'You are a test aspect.', cache_control: { type: 'ephemeral' } },
    ]);
    expect(body.messages[0]?.content).toEqual([
      {
        type: 'text',
        text: '[Summary of the conversation so far]\nWe agreed on a plan.',
        cache_control: { type: 'ephemeral' },
      },
    ]);
    expect(body.messages[2]?.content[0]).not.toHaveProperty('cache_control');
  });

  it('sends no cache marks without cacheSystem', async () => {
    const context: ContextMessage[] = [
      { role: 'user', content: '[Summary of the conversation so far]\nWe agreed on a plan.', note: true },
    ];
    await invoke(provider, request(context), new AbortController().signal);
    expect(bodyOf(0).system).toBe('You are a test aspect.');
    expect(JSON.stringify(bodyOf(0))).not.toContain('cache_control');
  });

  it('counts tokens through messages.countTokens', async () => {
    const tokens = await provider.countTokens(request(hello));
    const sent = double.requests.find((r) => r.path === '/v1/messages/count_tokens');
    const body = sent?.body as Body;
    expect(body).toMatchObject({ model: 'claude-test-1', system: 'You are a test aspect.' });
    expect(body.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'hello' }] }]);
    expect(tokens).toBe(
      Math.ceil(
        JSON.stringify({ system: body.system, messages: body.messages, tools: body.tools }).length / 4,
      ),
    );
    expect(sent?.headers.authorization).toBe('Bearer sk-ant-test-1');
  });
});

describe('claude-api failures', () => {
  it('retries a 429 with streamWithRetry, honouring retry-after, and then succeeds', async () => {
    double.fail(429, undefined, { 'retry-after': '0' });
    double.reply({ text: 'after the rate limit' });
    const retries: unknown[] = [];
    const events = await collect(
      streamWithRetry(provider, request(hello), new AbortController().signal, {
        ...noRetryWait,
        onRetry: (info) => retries.push(info),
      }),
    );
    expect(retries).toEqual([
      {
        attempt: 1,
        delayMs: 0,
        failure: expect.objectContaining({
          kind: 'rate_limited',
          retryable: true,
          status: 429,
          retryAfterS: 0,
        }),
      },
    ]);
    expect(terminal(events)).toMatchObject({ type: 'done', result: { content: 'after the rate limit' } });
    expect(double.messageRequests()).toHaveLength(2);
  });

  it('does not retry a 401: one auth failure, not retryable', async () => {
    double.fail(401);
    double.reply({ text: 'never reached' });
    const events = await collect(
      streamWithRetry(provider, request(hello), new AbortController().signal, noRetryWait),
    );
    expect(terminal(events)).toEqual({
      type: 'error',
      error: expect.objectContaining({ kind: 'auth', retryable: false, status: 401 }),
    });
    expect(events).toHaveLength(1);
    expect(double.messageRequests()).toHaveLength(1);
  });

  it('maps 403 to auth and 400 to invalid_request, neither retryable', async () => {
    double.fail(403);
    await expect(
      invokeWithRetry(provider, request(hello), new AbortController().signal, noRetryWait),
    ).rejects.toMatchObject({
      failure: { kind: 'auth', retryable: false, status: 403 },
    });
    double.fail(400);
    await expect(
      invokeWithRetry(provider, request(hello), new AbortController().signal, noRetryWait),
    ).rejects.toMatchObject({
      failure: { kind: 'invalid_request', retryable: false, status: 400 },
    });
    expect(double.messageRequests()).toHaveLength(2);
  });

  it('reports a body the API rejects as invalid_request (a context starting with the assistant)', async () => {
    const events = await collect(
      provider.stream(
        request([{ role: 'assistant', content: 'hi', tool_calls: [] }]),
        new AbortController().signal,
      ),
    );
    expect(terminal(events)).toMatchObject({
      type: 'error',
      error: { kind: 'invalid_request', status: 400 },
    });
  });

  it('maps 529 and an overloaded_error event mid-stream to overloaded, and retries both', async () => {
    double.fail(529);
    double.reply({ streamError: { type: 'overloaded_error', message: 'Overloaded' } });
    double.reply({ text: 'finally' });
    const kinds: string[] = [];
    const result = await invokeWithRetry(provider, request(hello), new AbortController().signal, {
      ...noRetryWait,
      onRetry: ({ failure }) => kinds.push(`${failure.kind}:${failure.retryable}`),
    });
    expect(kinds).toEqual(['overloaded:true', 'overloaded:true']);
    expect(result.content).toBe('finally');
  });

  it('maps other 5xx to server, retryable, and gives up after maxAttempts', async () => {
    double.fail(500);
    double.fail(503);
    const events = await collect(
      streamWithRetry(provider, request(hello), new AbortController().signal, {
        ...noRetryWait,
        maxAttempts: 2,
      }),
    );
    expect(terminal(events)).toMatchObject({
      type: 'error',
      error: { kind: 'server', retryable: true, status: 503 },
    });
    expect(double.messageRequests()).toHaveLength(2);
  });

  it('maps a refused connection to network, retryable', async () => {
    const { url } = double;
    await double.stop();
    double = await startAnthropicDouble(); // afterEach stops this one
    const unreachable = createClaudeProvider({ apiKey: async () => 'k', baseURL: url });
    const events = await collect(unreachable.stream(request(hello), new AbortController().signal));
    expect(terminal(events)).toMatchObject({ type: 'error', error: { kind: 'network', retryable: true } });
  });

  it('ends with aborted when the signal fires mid-stream, and is not retried', async () => {
    double.reply({ text: 'this reply stalls after its first word', stall: true });
    double.reply({ text: 'never reached' });
    const controller = new AbortController();
    const events: ProviderEvent[] = [];
    for await (const event of streamWithRetry(provider, request(hello), controller.signal, noRetryWait)) {
      events.push(event);
      if (event.type === 'text_delta') controller.abort();
    }
    expect(events.map((e) => e.type)).toEqual(['text_delta', 'error']);
    expect(terminal(events)).toMatchObject({ type: 'error', error: { kind: 'aborted', retryable: false } });
    expect(double.messageRequests()).toHaveLength(1);
  });

  it('reports a credential that cannot be fetched as auth, without calling the API', async () => {
    const broken = createClaudeProvider({
      apiKey: () => Promise.reject(new Error('403 from the broker')),
      baseURL: double.url,
    });
    const events = await collect(broken.stream(request(hello), new AbortController().signal));
    expect(terminal(events)).toMatchObject({ type: 'error', error: { kind: 'auth', retryable: false } });
    expect(double.requests).toHaveLength(0);
  });
});
