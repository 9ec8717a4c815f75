import { failureFromHttp, retryAfterSeconds } from './failure.js';
import type { Provider, ProviderEvent, ProviderFailure, ProviderRequest } from './provider.js';
import { backoffMs, invokeWithRetry, streamWithRetry } from './retry.js';

/** A provider that plays one list of events per call, in order. */
function playing(...calls: ProviderEvent[][]): Provider & { calls: number } {
  const provider = {
    kind: 'scripted' as const,
    calls: 0,
    async *stream(): AsyncGenerator<ProviderEvent> {
      const events = calls[provider.calls++] ?? [];
      yield* events;
    },
    countTokens: () => Promise.resolve(0),
  };
  return provider;
}

const req: ProviderRequest = { model: 'm', system: '', messages: [], tools: [], maxOutputTokens: 10 };
const fast = { baseMs: 1, capMs: 2 };
const fail = (
  kind: ProviderFailure['kind'],
  retryable: boolean,
  extra: Partial<ProviderFailure> = {},
): ProviderEvent => ({
  type: 'error',
  error: { kind, message: kind, retryable, ...extra },
});
const done: ProviderEvent = {
  type: 'done',
  result: {
    content: 'ok',
    toolCalls: [],
    usage: { input_tokens: 1, output_tokens: 1, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
    stopReason: 'end_turn',
    model: 'm',
  },
};

async function collect(events: AsyncIterable<ProviderEvent>): Promise<ProviderEvent[]> {
  const out: ProviderEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

describe('streamWithRetry', () => {
  it('retries retryable failures that came before any delta', async () => {
    const provider = playing(
      [fail('overloaded', true)],
      [fail('network', true)],
      [{ type: 'text_delta', text: 'ok' }, done],
    );
    const events = await collect(streamWithRetry(provider, req, new AbortController().signal, fast));
    expect(events).toEqual([{ type: 'text_delta', text: 'ok' }, done]);
    expect(provider.calls).toBe(3);
  });

  it('passes a failure on once a delta reached the caller, since a retry would repeat it', async () => {
    const provider = playing([{ type: 'text_delta', text: 'half' }, fail('network', true)], [done]);
    const events = await collect(streamWithRetry(provider, req, new AbortController().signal, fast));
    expect(events).toEqual([{ type: 'text_delta', text: 'half' }, fail('network', true)]);
    expect(provider.calls).toBe(1);
  });

  it('does not retry failures that are not retryable', async () => {
    const provider = playing([fail('invalid_request', false)], [done]);
    expect(await collect(streamWithRetry(provider, req, new AbortController().signal, fast))).toEqual([
      fail('invalid_request', false),
    ]);
    expect(provider.calls).toBe(1);
  });

  it('stops after maxAttempts with the last failure', async () => {
    const provider = playing([fail('server', true)], [fail('server', true, { status: 503 })], [done]);
    const events = await collect(
      streamWithRetry(provider, req, new AbortController().signal, { ...fast, maxAttempts: 2 }),
    );
    expect(events).toEqual([fail('server', true, { status: 503 })]);
    expect(provider.calls).toBe(2);
  });

  it('ends with aborted when the signal fires during the wait', async () => {
    const provider = playing([fail('rate_limited', true, { retryAfterS: 60 })], [done]);
    const controller = new AbortController();
    const events = await collect(
      streamWithRetry(provider, req, controller.signal, {
        ...fast,
        onRetry: () => setTimeout(() => controller.abort(), 1),
      }),
    );
    expect(events).toEqual([
      { type: 'error', error: expect.objectContaining({ kind: 'aborted', retryable: false }) },
    ]);
    expect(provider.calls).toBe(1);
  });

  it('invokeWithRetry returns the result of the attempt that succeeded', async () => {
    const provider = playing([fail('rate_limited', true, { retryAfterS: 0 })], [done]);
    await expect(invokeWithRetry(provider, req, new AbortController().signal, fast)).resolves.toEqual(
      done.type === 'done' ? done.result : null,
    );
  });
});

describe('backoffMs', () => {
  const failure: ProviderFailure = { kind: 'server', message: 'x', retryable: true };

  it('doubles from baseMs up to capMs, with the jitter in the upper half', () => {
    const low = { baseMs: 100, capMs: 1000, random: () => 0 };
    const high = { ...low, random: () => 0.999999 };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, failure, low))).toEqual([50, 100, 200, 400, 500, 500]);
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, failure, high))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
  });

  it('waits as long as the server asked', () => {
    expect(backoffMs(1, { ...failure, retryAfterS: 2.5 }, { baseMs: 100, capMs: 1000 })).toBe(2500);
  });
});

describe('failureFromHttp', () => {
  const headers = (h: Record<string, string>) => new Headers(h);

  it.each([
    [401, undefined, 'auth', false],
    [403, undefined, 'auth', false],
    [429, undefined, 'rate_limited', true],
    [529, undefined, 'overloaded', true],
    [500, 'overloaded_error', 'overloaded', true],
    [500, undefined, 'server', true],
    [502, undefined, 'server', true],
    [400, undefined, 'invalid_request', false],
    [404, undefined, 'other', false],
    [undefined, 'overloaded_error', 'overloaded', true],
    [undefined, 'api_error', 'server', true],
    [undefined, 'something_new', 'other', false],
  ] as const)('status %s, type %s is %s (retryable: %s)', (status, errorType, kind, retryable) => {
    expect(failureFromHttp({ status, errorType, message: 'm' })).toMatchObject({ kind, retryable });
  });

  it('reads retry-after as seconds, as an HTTP date, and retry-after-ms first', () => {
    expect(retryAfterSeconds(headers({ 'retry-after': '7' }))).toBe(7);
    expect(
      retryAfterSeconds(
        headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:30 GMT' }),
        Date.parse('2026-01-01T00:00:00Z'),
      ),
    ).toBe(30);
    expect(retryAfterSeconds(headers({ 'retry-after': '7', 'retry-after-ms': '1500' }))).toBe(1.5);
    expect(retryAfterSeconds(headers({}))).toBeUndefined();
    expect(
      failureFromHttp({ status: 429, message: 'm', headers: headers({ 'retry-after': '3' }) }),
    ).toMatchObject({
      retryAfterS: 3,
      status: 429,
    });
  });
});
