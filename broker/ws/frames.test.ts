/**
 * The WebSocket rules of SPEC section 4, B.3, B.6, B.9 and B.41, and its bad input (section 12,
 * QUALITY fault 17), frame by frame on a bare socket.
 */
import { randomUUID } from 'node:crypto';
import type { BrokerClient } from '../../client/index.js';
import { CLIENT_FRAME_TYPES, ErrorFrame, type Message, type SendReply } from '../../protocol/index.js';
import {
  adminClient,
  createAspect,
  createTestDatabase,
  openRawSocket,
  startInProcessBroker,
  stateSnapshot,
  waitUntil,
  type RawSocket,
  type ReceivedFrame,
  type TestAspect,
  type TestDatabase,
} from '../../testing/index.js';

describe('WebSocket frames and connection rules', () => {
  let db: TestDatabase;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;
  let flood: Awaited<ReturnType<typeof startInProcessBroker>>;
  let admin: BrokerClient;
  const sockets: RawSocket[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('ws_frames');
    broker = await startInProcessBroker({
      databaseUrl: db.url,
      env: { NEXUS_HELLO_TIMEOUT_S: '1', NEXUS_STALE_S: '3600' },
    });
    // A second replica with a low frame rate; the same bootstrap token, or it would replace the first's.
    flood = await startInProcessBroker({
      databaseUrl: db.url,
      env: { NEXUS_RATE_WS: '5/5', NEXUS_STALE_S: '3600', NEXUS_BOOTSTRAP_TOKEN: broker.adminToken },
    });
    admin = adminClient(broker.url, broker.adminToken);
  });
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.close();
  });
  afterAll(async () => {
    await flood?.stop();
    await broker?.stop();
    await db?.drop();
  });

  /** A bare socket with the token in the header, remembered for clean-up. */
  async function open(token: string | null, url = broker.url): Promise<RawSocket> {
    const socket = await openRawSocket(url, token);
    sockets.push(socket);
    return socket;
  }

  /** A bare socket of `aspect` after hello and welcome. */
  async function connect(aspect: TestAspect, url = broker.url, hello: Record<string, unknown> = {}) {
    const socket = await open(aspect.token, url);
    socket.send({ type: 'hello', instance_id: aspect.instanceId, ...hello });
    await socket.waitFor((f) => f.type === 'welcome', { what: 'welcome' });
    return socket;
  }

  const sendHttp = (from: TestAspect, body: Record<string, unknown>) =>
    from.http.post<SendReply>('/v1/messages', body);

  describe('hello', () => {
    it('closes a socket that sends no hello within NEXUS_HELLO_TIMEOUT_S with 1008', async () => {
      const aspect = await createAspect(broker.url, admin, 'silent');
      const socket = await open(aspect.token);
      expect((await socket.closed).code).toBe(1008);
      // Frames other than hello do not count as one.
      const chatty = await open(aspect.token);
      chatty.send({ type: 'ping' });
      await chatty.waitFor((f) => f.type === 'error', { what: 'the error for a frame before hello' });
      expect(chatty.frames[0]).toMatchObject({
        code: 'invalid_request',
        message: 'type: the first frame must be hello',
      });
      expect((await chatty.closed).code).toBe(1008);
    });

    it('answers an aspect hello without instance_id with an error frame, then closes 1008', async () => {
      const aspect = await createAspect(broker.url, admin, 'nameless');
      const socket = await open(aspect.token);
      socket.send({ type: 'hello' });
      expect((await socket.closed).code).toBe(1008);
      expect(socket.frames).toEqual([
        expect.objectContaining({
          type: 'error',
          code: 'invalid_request',
          message: expect.stringMatching(/^instance_id: /),
        }),
      ]);
    });

    it('refuses a hello from an instance other than the registered one with close 4409', async () => {
      const aspect = await createAspect(broker.url, admin, 'twin');
      const socket = await open(aspect.token);
      socket.send({ type: 'hello', instance_id: randomUUID() });
      expect((await socket.closed).code).toBe(4409);
      expect(socket.frames.some((f) => f.type === 'welcome')).toBe(false);
    });

    it('replaces the first socket of an instance with a second one: the first closes 4409', async () => {
      const aspect = await createAspect(broker.url, admin, 'restless');
      const first = await connect(aspect);
      const second = await connect(aspect);
      expect((await first.closed).code).toBe(4409);
      await second.roundTrip();
      // And the new socket is the one that receives the mail.
      const sender = await createAspect(broker.url, admin, 'restless-sender');
      const sent = await sendHttp(sender, { content: 'for the second socket', to: ['restless'] });
      const delivered = await second.waitFor((f) => f.type === 'message', { what: 'the delivery' });
      expect((delivered.message as Message).id).toBe(sent.id);
    });

    it('closes 4401 when the hello token differs from the header token, and accepts a token in hello alone', async () => {
      const aspect = await createAspect(broker.url, admin, 'two-faced');
      const other = await createAspect(broker.url, admin, 'other-face');
      const socket = await open(aspect.token);
      socket.send({ type: 'hello', instance_id: aspect.instanceId, token: other.token });
      expect((await socket.closed).code).toBe(4401);

      const headerless = await open(null);
      headerless.send({ type: 'hello', instance_id: aspect.instanceId, token: aspect.token });
      expect(await headerless.waitFor((f) => f.type === 'welcome', { what: 'welcome' })).toMatchObject({
        identity: { kind: 'aspect', name: 'two-faced', admin: false },
      });
      const wrong = await open(null);
      wrong.send({ type: 'hello', instance_id: aspect.instanceId, token: 'nxa_not-a-real-token' });
      expect((await wrong.closed).code).toBe(4401);
    });

    it('answers resume_after beyond the largest id with error resume_ahead and resumes from the stored ack', async () => {
      const reader = await createAspect(broker.url, admin, 'time-traveller');
      const writer = await createAspect(broker.url, admin, 'tt-writer');
      const first = await sendHttp(writer, { content: 'one', to: ['time-traveller'] });
      const second = await sendHttp(writer, { content: 'two', to: ['time-traveller'] });
      const socket = await open(reader.token);
      socket.send({ type: 'hello', instance_id: reader.instanceId, resume_after: '9000000000000' });
      const error = await socket.waitFor((f) => f.type === 'error', { what: 'resume_ahead' });
      expect(error).toMatchObject({ code: 'resume_ahead' });
      await socket.waitFor((f) => f.type === 'welcome', { what: 'welcome' });
      // Nothing was acked yet, so resumption starts at the beginning of the mailbox.
      await socket.waitFor((f) => f.type === 'message' && (f.message as Message).id === second.id, {
        what: 'both messages',
      });
      const ids = socket.frames.filter((f) => f.type === 'message').map((f) => (f.message as Message).id);
      expect(ids).toEqual([first.id, second.id]);
    });

    it('clamps an ack above what was delivered, so a later message is not skipped on reconnect', async () => {
      const reader = await createAspect(broker.url, admin, 'eager-acker');
      const writer = await createAspect(broker.url, admin, 'ea-writer');
      const first = await sendHttp(writer, { content: 'one', to: ['eager-acker'] });
      const socket = await connect(reader);
      await socket.waitFor((f) => f.type === 'message', { what: 'the first delivery' });
      socket.send({ type: 'ack', id: (BigInt(first.id) + 1000n).toString() });
      await socket.roundTrip();
      socket.close();
      await socket.closed;
      const second = await sendHttp(writer, { content: 'two', to: ['eager-acker'] });
      // Reconnect without resume_after: the broker resumes from the stored (clamped) ack.
      const again = await waitUntil(
        async () => {
          const s = await connect(reader);
          const m = await s.waitFor((f) => f.type === 'message', { what: 'a delivery after reconnect' });
          s.close();
          // Until the clamped cursor is written, the broker may start earlier (a duplicate, allowed).
          return (m.message as Message).id === second.id ? m : null;
        },
        { timeoutMs: 10_000, what: 'the second message first after reconnect' },
      );
      expect((again.value.message as Message).content).toBe('two');
    });
  });

  describe('bad frames on an open socket', () => {
    let aspect: TestAspect;
    beforeAll(async () => {
      aspect = await createAspect(broker.url, admin, 'fumbler');
      await createAspect(broker.url, admin, 'fumbler-peer');
    });

    const cases: [string, string | Buffer, string, RegExp][] = [
      ['text that is not JSON', 'hello?', 'invalid_json', /^frame is not valid JSON at position 0$/],
      ['truncated JSON', '{"type": "ping"', 'invalid_json', /^frame is not valid JSON at position 15$/],
      ['a JSON array', '[]', 'invalid_request', /^\(root\): a frame must be a JSON object$/],
      ['an unknown type', '{"type": "teleport"}', 'invalid_request', /^type: must be one of hello, send/],
      ['no type', '{}', 'invalid_request', /^type: /],
      ['a send without a message', '{"type": "send", "ref": "r1"}', 'invalid_request', /^message: /],
      [
        'a send with a number as content',
        '{"type": "send", "ref": "r2", "message": {"content": 5}}',
        'invalid_request',
        /^message\.content: /,
      ],
      [
        'a send with a bad recipient',
        '{"type": "send", "ref": "r3", "message": {"content": "x", "to": ["Not Valid"]}}',
        'invalid_request',
        /^message\.to\[0\]: /,
      ],
      [
        'a send of kind hand',
        '{"type": "send", "ref": "r4", "message": {"content": "x", "kind": "hand"}}',
        'invalid_request',
        /^message\.kind: /,
      ],
      [
        'a send with NUL in content',
        '{"type": "send", "ref": "r5", "message": {"content": "a\\u0000b", "to": ["fumbler-peer"]}}',
        'invalid_request',
        /^message\.content: /,
      ],
      [
        'a send with deep input',
        `{"type": "send", "ref": "r6", "message": {"content": "x", "to": ["fumbler-peer"], "input": ${'['.repeat(100_000)}${']'.repeat(100_000)}}}`,
        'invalid_request',
        /^message\.input: must nest at most 64 levels deep$/,
      ],
      [
        'a ref over 64 characters',
        JSON.stringify({ type: 'send', ref: 'r'.repeat(65), message: { content: 'x' } }),
        'invalid_request',
        /^ref: /,
      ],
      [
        'an ack with a bad id',
        '{"type": "ack", "id": "latest"}',
        'invalid_request',
        /^id: must be a decimal id string$/,
      ],
      [
        'an unknown field',
        '{"type": "ping", "color": "blue"}',
        'invalid_request',
        /^color: is not a known field$/,
      ],
      [
        'bad subscription threads',
        '{"type": "subscribe", "threads": "all"}',
        'invalid_request',
        /^threads: /,
      ],
      [
        'a publish with a bad time',
        '{"type": "publish", "event": {"kind": "k", "ts": "yesterday"}}',
        'invalid_request',
        /^event\.ts: /,
      ],
      [
        'a control result nobody awaits',
        '{"type": "control.result", "request_id": "7", "ok": true}',
        'not_found',
        /^request_id: /,
      ],
      [
        'a second hello',
        '{"type": "hello", "instance_id": "x"}',
        'invalid_request',
        /^type: hello was already received$/,
      ],
      [
        'a binary frame',
        Buffer.from('{"type": "ping"}'),
        'invalid_request',
        /^\(root\): frames must be text$/,
      ],
    ];

    it.each(cases)(
      'answers %s with an error frame naming the field and stays open',
      async (_name, data, code, message) => {
        const socket = await connect(aspect);
        const before = await stateSnapshot(admin);
        const from = socket.frames.length;
        socket.sendData(data);
        const error = await socket.waitFor((f) => f.type === 'error', { from, what: 'an error frame' });
        expect(ErrorFrame.safeParse(error).success).toBe(true);
        expect(error).toMatchObject({ code });
        expect(error.message).toMatch(message);
        expect(JSON.stringify(error)).not.toContain('teleport');
        await socket.roundTrip();
        expect(socket.isOpen).toBe(true);
        expect(await stateSnapshot(admin)).toEqual(before);
      },
    );

    it('lists every frame type in the unknown-type error', async () => {
      const socket = await connect(aspect);
      socket.send({ type: 'nope' });
      const error = await socket.waitFor((f) => f.type === 'error', { what: 'an error frame' });
      expect(error.message).toBe(`type: must be one of ${CLIENT_FRAME_TYPES.join(', ')}`);
    });

    it('answers a good send with `sent`, and applies the idempotency rules of HTTP (B.38)', async () => {
      const socket = await connect(aspect);
      const message = { content: 'over the socket', to: ['fumbler-peer'], idempotency_key: 'ws-1' };
      socket.send({ type: 'send', ref: 'a', message });
      const sent = await socket.waitFor((f) => f.ref === 'a', { what: 'sent a' });
      expect(sent).toMatchObject({ type: 'sent', ref: 'a', id: expect.stringMatching(/^\d+$/) });
      socket.send({ type: 'send', ref: 'b', message });
      expect(await socket.waitFor((f) => f.ref === 'b', { what: 'sent b' })).toMatchObject({
        type: 'sent',
        id: sent.id,
        thread_id: sent.thread_id,
      });
      socket.send({ type: 'send', ref: 'c', message: { ...message, content: 'changed' } });
      expect(await socket.waitFor((f) => f.ref === 'c', { what: 'error c' })).toMatchObject({
        type: 'error',
        code: 'conflict',
        ref: 'c',
      });
    });
  });

  describe('size and rate', () => {
    it('closes a socket that sends a frame over 1 MiB with 1009, storing nothing', async () => {
      const aspect = await createAspect(broker.url, admin, 'bulky');
      const socket = await connect(aspect);
      const before = await stateSnapshot(admin);
      socket.send({
        type: 'send',
        ref: 'big',
        message: { content: 'x'.repeat(1024 * 1024), to: ['bulky-peer'] },
      });
      expect((await socket.closed).code).toBe(1009);
      expect(await stateSnapshot(admin)).toEqual(before);
    });

    it('closes a socket that floods frames beyond NEXUS_RATE_WS with 1008, changing nothing', async () => {
      const aspect = await createAspect(broker.url, admin, 'subscriber');
      const socket = await connect(aspect, flood.url);
      const before = await stateSnapshot(admin);
      for (let i = 0; i < 50; i++) socket.send({ type: 'subscribe', threads: [] });
      expect((await socket.closed).code).toBe(1008);
      expect(socket.frames.filter((f) => f.type === 'subscribed').length).toBeLessThan(50);
      expect(await stateSnapshot(admin)).toEqual(before);
    });

    it('stores none of the sends past the rate limit: what is stored is a prefix of the flood', async () => {
      const aspect = await createAspect(broker.url, admin, 'flooder');
      await createAspect(broker.url, admin, 'flooded');
      const socket = await connect(aspect, flood.url);
      for (let i = 0; i < 50; i++)
        socket.send({ type: 'send', ref: `f${i}`, message: { content: `${i}`, to: ['flooded'] } });
      expect((await socket.closed).code).toBe(1008);
      // Frames are rate-checked in order and the socket closes at the first one over the limit, so the
      // stored messages are frames 0..k-1 for some k < 50 (sends in flight at the close may still commit).
      const stored = async () =>
        (await admin.get<{ messages: Message[] }>('/v1/messages?limit=1000')).messages
          .filter((m) => m.from === 'flooder')
          .map((m) => Number(m.content))
          .sort((a, b) => a - b);
      const { value: prefix } = await waitUntil(
        async () => {
          const numbers = await stored();
          return numbers.length > 0 && numbers.every((n, i) => n === i) ? numbers : null;
        },
        { timeoutMs: 5000, what: 'the stored sends to be a prefix of the flood' },
      );
      expect(prefix.length).toBeLessThan(50);
      const acknowledged = socket.frames
        .filter((f) => f.type === 'sent')
        .map((f) => Number(String(f.ref).slice(1)));
      for (const n of acknowledged) expect(prefix).toContain(n);
    });

    it('counts malformed frames against the rate too', async () => {
      const aspect = await createAspect(broker.url, admin, 'garbler');
      const socket = await connect(aspect, flood.url);
      for (let i = 0; i < 50; i++) socket.sendData('{not json');
      expect((await socket.closed).code).toBe(1008);
    });

    it('does not count ping, pong and ack against the rate', async () => {
      const aspect = await createAspect(broker.url, admin, 'pinger');
      const socket = await connect(aspect, flood.url);
      for (let i = 0; i < 30; i++) {
        socket.send({ type: 'pong' });
        socket.send({ type: 'ack', id: '0' });
        await socket.roundTrip();
      }
      expect(socket.isOpen).toBe(true);
      const pongs: ReceivedFrame[] = socket.frames.filter((f) => f.type === 'pong');
      expect(pongs).toHaveLength(30);
    });
  });
});
