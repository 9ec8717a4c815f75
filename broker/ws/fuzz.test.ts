/**
 * Property-based fuzzing of WebSocket frames (QUALITY fault 18): arbitrary JSON, mutated valid
 * frames and raw text on an open socket get an `error` frame or a valid reply, never close the
 * socket, and a frame the protocol schema refuses changes no state. fast-check prints the seed of a
 * failure; `fc.assert(…, { seed, path })` replays it.
 */
import fc from 'fast-check';
import { ClientFrame, ServerFrame, nulCharacterIssue } from '../../protocol/index.js';
import type { BrokerClient } from '../../client/index.js';
import {
  adminClient,
  anyJson,
  anyText,
  createAspect,
  createTestDatabase,
  errorProblem,
  mutatedBody,
  openRawSocket,
  openStateProbe,
  startInProcessBroker,
  type RawSocket,
  type TestAspect,
  type TestDatabase,
} from '../../testing/index.js';

const RUNS = 200;
const FUZZ_TIMEOUT_MS = 300_000;

describe('WebSocket fuzzing', () => {
  let db: TestDatabase;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;
  let admin: BrokerClient;
  let fuzzer: TestAspect;
  let probe: Awaited<ReturnType<typeof openStateProbe>>;
  const sockets: RawSocket[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('ws_fuzz');
    broker = await startInProcessBroker({
      databaseUrl: db.url,
      env: { NEXUS_RATE_LIMITS: 'off', NEXUS_STALE_S: '3600', NEXUS_HELLO_TIMEOUT_S: '600' },
    });
    admin = adminClient(broker.url, broker.adminToken);
    fuzzer = await createAspect(broker.url, admin, 'ws-fuzzer');
    await createAspect(broker.url, admin, 'ws-peer');
    probe = await openStateProbe(db.url);
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await probe?.end();
    await broker?.stop();
    await db?.drop();
  });

  async function open(): Promise<RawSocket> {
    const socket = await openRawSocket(broker.url, fuzzer.token);
    sockets.push(socket);
    return socket;
  }

  const validFrames: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
    fc.string({ maxLength: 40 }).map((content) => ({
      type: 'send',
      ref: `ref-${content.length}`,
      message: { content, to: ['ws-peer'], input: { length: content.length } },
    })),
    fc.constantFrom(
      { type: 'ack', id: '1' },
      { type: 'subscribe', threads: [] },
      { type: 'subscribe', threads: ['1'], observe: 'ws-peer' },
      { type: 'ping', ts: 1 },
      { type: 'pong' },
      { type: 'publish', event: { kind: 'turn.start', ts: '2026-01-01T00:00:00Z', data: { a: 1 } } },
      { type: 'control.result', request_id: '1', ok: true, result: { head: 'e1' } },
      { type: 'hello', instance_id: 'x', resume_after: '0' },
    ),
  );
  const frames = fc.oneof(
    anyJson.map((value) => ({ text: JSON.stringify(value) })),
    mutatedBody(validFrames).map(({ text }) => ({ text })),
    anyText.map((text) => ({ text })),
  );

  /** Whether the broker should take `text` as a well-formed frame (it may still refuse it, with an error frame). */
  function wellFormed(text: string): boolean {
    try {
      const value: unknown = JSON.parse(text);
      return ClientFrame.safeParse(value).success && nulCharacterIssue(value) === null;
    } catch {
      return false;
    }
  }

  /** Sends one frame and checks the replies up to a ping's pong; `malformed` frames must get an error. */
  async function check(socket: RawSocket, text: string): Promise<void> {
    const before = await probe.fingerprint();
    const from = socket.frames.length;
    const valid = wellFormed(text);
    socket.sendData(text);
    if (valid) {
      // A send is answered by `sent` or `error` with its ref; wait for it so its write is not mid-flight.
      const value = JSON.parse(text) as { type: string; ref?: string };
      if (value.type === 'send')
        await socket.waitFor((f) => f.ref === value.ref, { from, what: `the reply to ${value.ref}` });
    }
    await socket.roundTrip();
    const replies = socket.frames.slice(from);
    const context = `${text.slice(0, 300)} -> ${JSON.stringify(replies).slice(0, 600)}`;
    for (const reply of replies) {
      if (!ServerFrame.safeParse(reply).success) throw new Error(`not a server frame: ${context}`);
      if (reply.type === 'error') {
        const problem = errorProblem(reply, 'frame');
        if (problem) throw new Error(`${problem}: ${context}`);
        if (reply.code === 'internal' || reply.code === 'unavailable')
          throw new Error(`server error: ${context}`);
      }
    }
    if (!valid) {
      if (!replies.some((f) => f.type === 'error'))
        throw new Error(`no error frame for a bad frame: ${context}`);
      if ((await probe.fingerprint()) !== before) throw new Error(`state changed: ${context}`);
    }
    if (!socket.isOpen) throw new Error(`socket closed: ${context}`);
  }

  it(
    'answers arbitrary and mutated frames on an open socket with an error or a valid reply, and stays open',
    async () => {
      const socket = await open();
      socket.send({ type: 'hello', instance_id: fuzzer.instanceId });
      await socket.waitFor((f) => f.type === 'welcome', { what: 'welcome' });
      await fc.assert(
        fc.asyncProperty(frames, async ({ text }) => check(socket, text)),
        { numRuns: RUNS },
      );
      await socket.roundTrip();
      expect(socket.isOpen).toBe(true);
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'answers any frame but hello before hello with an error, then still accepts the hello',
    async () => {
      const socket = await open();
      const notHello = frames.filter(({ text }) => {
        try {
          return (JSON.parse(text) as { type?: unknown } | null)?.type !== 'hello';
        } catch {
          return true;
        }
      });
      await fc.assert(
        fc.asyncProperty(notHello, async ({ text }) => {
          const from = socket.frames.length;
          socket.sendData(text);
          // Before hello every frame gets exactly one error (a ping too, so no round trip here).
          const error = await socket.waitFor((f) => f.type === 'error', { from, what: 'an error frame' });
          const problem = errorProblem(error, 'frame');
          if (problem) throw new Error(`${problem}: ${text.slice(0, 300)}`);
          if (!socket.isOpen) throw new Error(`socket closed after ${text.slice(0, 300)}`);
        }),
        { numRuns: RUNS / 2 },
      );
      const from = socket.frames.length;
      socket.send({ type: 'hello', instance_id: fuzzer.instanceId });
      await socket.waitFor((f) => f.type === 'welcome', { from, what: 'welcome' });
      await socket.roundTrip();
    },
    FUZZ_TIMEOUT_MS,
  );

  it('still serves after all of it', async () => {
    const socket = await open();
    socket.send({ type: 'hello', instance_id: fuzzer.instanceId });
    await socket.waitFor((f) => f.type === 'welcome', { what: 'welcome' });
    socket.send({ type: 'send', ref: 'last', message: { content: 'alive', to: ['ws-peer'] } });
    expect(await socket.waitFor((f) => f.ref === 'last', { what: 'sent' })).toMatchObject({ type: 'sent' });
    expect((await admin.call('GET', '/v1/aspects')).status).toBe(200);
  });
});
