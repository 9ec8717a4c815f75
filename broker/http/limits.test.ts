/**
 * Oversize, malformed and flooding HTTP input (SPEC section 12, B.33, B.37, B.57; QUALITY fault 17):
 * every one is refused with its SPEC code and stores nothing.
 */
import { gzipSync } from 'node:zlib';
import type { BrokerClient } from '../../client/index.js';
import { ErrorBody } from '../../protocol/index.js';
import {
  adminClient,
  createAspect,
  createTestDatabase,
  rawRequest,
  startInProcessBroker,
  stateSnapshot,
  type RawResponse,
  type TestAspect,
  type TestDatabase,
} from '../../testing/index.js';

describe('HTTP limits and malformed bodies', () => {
  let db: TestDatabase;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;
  let admin: BrokerClient;
  let alice: TestAspect;

  beforeAll(async () => {
    db = await createTestDatabase('http_limits');
    broker = await startInProcessBroker({ databaseUrl: db.url, env: { NEXUS_STALE_S: '3600' } });
    admin = adminClient(broker.url, broker.adminToken);
    alice = await createAspect(broker.url, admin, 'alice');
    await createAspect(broker.url, admin, 'bob');
  });
  afterAll(async () => {
    await broker?.stop();
    await db?.drop();
  });

  const post = (body: string | Buffer, headers: Record<string, string> = {}, path = '/v1/messages') =>
    rawRequest(broker.url, { path, token: alice.token, body, headers });

  /** Sends `body`, expects the error, and checks nothing was stored. */
  async function expectRefused(
    send: () => Promise<RawResponse>,
    status: number,
    code: string,
  ): Promise<{ code: string; message: string }> {
    const before = await stateSnapshot(admin);
    const response = await send();
    expect({ status: response.status, body: response.json }).toMatchObject({
      status,
      body: { error: { code } },
    });
    expect(ErrorBody.safeParse(response.json).success).toBe(true);
    expect(await stateSnapshot(admin)).toEqual(before);
    return (response.json as ErrorBody).error;
  }

  it('answers a body over 1 MiB with 413 payload_too_large', async () => {
    const body = JSON.stringify({ content: 'x'.repeat(1024 * 1024), to: ['bob'] });
    await expectRefused(() => post(body), 413, 'payload_too_large');
    // Also when the size is only known after inflating a compressed body.
    await expectRefused(() => post(gzipSync(body), { 'content-encoding': 'gzip' }), 413, 'payload_too_large');
  });

  it('answers content over 256 KiB of UTF-8 with 400 naming `content`, counting bytes, not characters', async () => {
    const tooLong = await expectRefused(
      () => post(JSON.stringify({ content: 'x'.repeat(256 * 1024 + 1), to: ['bob'] })),
      400,
      'invalid_request',
    );
    expect(tooLong.message).toBe('content: must be at most 256 KiB of UTF-8');
    // 100,000 characters of three bytes each: under the limit in characters, over it in bytes.
    const wide = await expectRefused(
      () => post(JSON.stringify({ content: '€'.repeat(100_000), to: ['bob'] })),
      400,
      'invalid_request',
    );
    expect(wide.message).toMatch(/^content: /);
    const input = await expectRefused(
      () => post(JSON.stringify({ content: 'x', input: { blob: 'y'.repeat(256 * 1024) }, to: ['bob'] })),
      400,
      'invalid_request',
    );
    expect(input.message).toBe('input: must be at most 256 KiB as JSON');

    const atLimit = await post(JSON.stringify({ content: 'x'.repeat(256 * 1024), to: ['bob'] }));
    expect(atLimit.status).toBe(201);
  });

  it.each([
    ['{"content": "nxa_secretsecret", }', 32],
    ['{"content": nxa_secretsecret}', 13],
    ['{"content": "nxa_secretsecret"', 30],
    ['{"to": ["bob"] "content": "nxa_secretsecret"}', 15],
    ['[1, 2,]', 6],
    ['nxa_secretsecret', 1],
    ['{"content": "nxa_secretsecret"} trailing', 32],
    ['{"content": "tab\there nxa_secretsecret"}', 16],
    ['{"content": 01}', 13],
    ['{"content": "\\x nxa_secretsecret"}', 14],
    ['   ', 3],
  ])(
    'answers invalid JSON %j with "body is not valid JSON at position %i" and never echoes it',
    async (text, position) => {
      const error = await expectRefused(() => post(text), 400, 'invalid_json');
      expect(error.message).toBe(`body is not valid JSON at position ${position}`);
      expect(error.message).not.toContain('nxa_');
      expect(JSON.stringify(error)).not.toContain('secret');
    },
  );

  it('refuses text that Postgres cannot store (U+0000) with 400 naming the field', async () => {
    const error = await expectRefused(
      () => post(JSON.stringify({ content: 'a\u0000b', to: ['bob'] })),
      400,
      'invalid_request',
    );
    expect(error.message).toMatch(/^content: /);
    const inInput = await expectRefused(
      () => post(JSON.stringify({ content: 'ok', to: ['bob'], input: { note: ['\u0000'] } })),
      400,
      'invalid_request',
    );
    expect(inInput.message).toBe('input.note[0]: must not contain the NUL character (U+0000)');
    const inKey = await expectRefused(
      () => post(JSON.stringify({ content: 'ok', to: ['bob'], input: { 'a\u0000': 1 } })),
      400,
      'invalid_request',
    );
    expect(inKey.message).toBe('input["a\\u0000"]: must not contain the NUL character (U+0000)');
    const inQuery = await rawRequest(broker.url, {
      method: 'GET',
      path: '/v1/audit?actor=%00',
      token: broker.adminToken,
    });
    expect(inQuery).toMatchObject({ status: 400, json: { error: { code: 'invalid_request' } } });
    expect((inQuery.json as ErrorBody).error.message).toMatch(/^actor: /);
  });

  it('refuses free JSON nested deeper than 64 levels with 400 naming the field, at any depth', async () => {
    for (const depth of [65, 5000, 200_000]) {
      const nested = '['.repeat(depth) + ']'.repeat(depth);
      const error = await expectRefused(
        () => post(`{"content": "deep", "to": ["bob"], "input": ${nested}}`),
        400,
        'invalid_request',
      );
      expect(error.message).toBe('input: must nest at most 64 levels deep');
    }
    const ok = await post(`{"content": "deep", "to": ["bob"], "input": ${'['.repeat(64)}${']'.repeat(64)}}`);
    expect(ok.status).toBe(201);
  });

  it('refuses a body in an encoding it cannot read with 400, not 500', async () => {
    const error = await expectRefused(
      () => post(JSON.stringify({ content: 'x', to: ['bob'] }), { 'content-encoding': 'snappy' }),
      400,
      'invalid_request',
    );
    expect(error.message).toMatch(/^body: /);
    const corrupt = await expectRefused(
      () => post(Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' }),
      400,
      'invalid_request',
    );
    expect(corrupt.message).toMatch(/^body: /);
  });

  it('answers a path parameter that is not valid percent-encoding with 400, without quoting it', async () => {
    const response = await rawRequest(broker.url, {
      method: 'GET',
      path: '/v1/threads/%E0%A4%Anxa_secret',
      token: broker.adminToken,
    });
    expect(response).toMatchObject({
      status: 400,
      json: { error: { code: 'invalid_request', message: 'path: not valid percent-encoding' } },
    });
    expect(response.text).not.toContain('nxa_secret');
  });

  describe('with a low HTTP rate limit (NEXUS_RATE_HTTP=5/5)', () => {
    let limited: Awaited<ReturnType<typeof startInProcessBroker>>;
    beforeAll(async () => {
      // The same bootstrap token: a different one would replace (revoke) the first broker's (B.39).
      limited = await startInProcessBroker({
        databaseUrl: db.url,
        env: { NEXUS_RATE_HTTP: '5/5', NEXUS_STALE_S: '3600', NEXUS_BOOTSTRAP_TOKEN: broker.adminToken },
      });
    });
    afterAll(async () => {
      await limited?.stop();
    });

    it('answers 429 rate_limited with Retry-After once the token has used its burst, and stores nothing for the refused send', async () => {
      const before = await stateSnapshot(admin);
      let accepted = 0;
      let refused: RawResponse | null = null;
      for (let i = 0; i < 500 && !refused; i++) {
        const response = await rawRequest(limited.url, {
          path: '/v1/messages',
          token: alice.token,
          body: JSON.stringify({ content: `flood ${i}`, to: ['bob'] }),
        });
        if (response.status === 201) accepted++;
        else refused = response;
      }
      expect(refused).not.toBeNull();
      expect(refused?.status).toBe(429);
      expect(refused?.json).toMatchObject({ error: { code: 'rate_limited' } });
      expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(accepted).toBeGreaterThanOrEqual(5);
      // Exactly the accepted sends were stored: the refused one left nothing behind.
      const after = await stateSnapshot(admin);
      expect(after.messages.length - before.messages.length).toBe(accepted);
      // Another token has its own bucket.
      const other = await rawRequest(limited.url, {
        method: 'GET',
        path: '/v1/aspects',
        token: broker.adminToken,
      });
      expect(other.status).toBe(200);
    });
  });
});
