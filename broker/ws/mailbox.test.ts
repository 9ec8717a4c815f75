/**
 * Mailboxes on sockets: an operator's `op:NAME` mailbox, given only to an admin socket that asks
 * for it, under the cursor rules of aspects (B.3, B.4, B.60); and the backpressure window, at
 * most NEXUS_WS_WINDOW unacked messages in flight, more as acks arrive (B.54).
 */
import pg from 'pg';
import type { BrokerClient } from '../../client/index.js';
import type { Message, SendReply } from '../../protocol/index.js';
import {
  adminClient,
  createAspect,
  createTestDatabase,
  openRawSocket,
  startInProcessBroker,
  waitUntil,
  type RawSocket,
  type ReceivedFrame,
  type TestAspect,
  type TestDatabase,
} from '../../testing/index.js';

const WINDOW = 3;

describe('socket mailboxes', () => {
  let db: TestDatabase;
  let sql: pg.Client;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;
  /** A replica with a window of 3. */
  let narrow: Awaited<ReturnType<typeof startInProcessBroker>>;
  let admin: BrokerClient;
  let alice: TestAspect;
  const sockets: RawSocket[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('ws_mailbox');
    broker = await startInProcessBroker({ databaseUrl: db.url, env: { NEXUS_STALE_S: '3600' } });
    narrow = await startInProcessBroker({
      databaseUrl: db.url,
      env: {
        NEXUS_STALE_S: '3600',
        NEXUS_WS_WINDOW: String(WINDOW),
        NEXUS_BOOTSTRAP_TOKEN: broker.adminToken,
      },
    });
    admin = adminClient(broker.url, broker.adminToken);
    alice = await createAspect(broker.url, admin, 'alice');
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
  });
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.close();
  });
  afterAll(async () => {
    await sql?.end();
    await narrow?.stop();
    await broker?.stop();
    await db?.drop();
  });

  const open = async (token: string, hello: Record<string, unknown>, url = broker.url) => {
    const socket = await openRawSocket(url, token);
    sockets.push(socket);
    socket.send({ type: 'hello', ...hello });
    await socket.waitFor((f) => f.type === 'welcome', { what: 'welcome' });
    return socket;
  };
  const delivered = (socket: RawSocket) =>
    socket.frames
      .filter((f): f is ReceivedFrame & { message: Message } => f.type === 'message')
      .map((f) => f.message.id);
  const storedCursor = async (recipient: string) =>
    (
      await sql.query<{ acked_id: string }>(
        'SELECT acked_id::text AS acked_id FROM cursors WHERE recipient = $1',
        [recipient],
      )
    ).rows[0]?.acked_id ?? '0';

  it('gives op:NAME mail only to a socket of that admin that asks for it, with the cursor rules of aspects', async () => {
    const { token: alex } = await admin.post<{ token: string }>('/v1/admin/tokens', {
      kind: 'admin',
      name: 'alex',
    });
    const first = await alice.http.post<SendReply>('/v1/messages', { content: 'one', to: ['op:alex'] });
    const second = await alice.http.post<SendReply>('/v1/messages', {
      content: 'two',
      to: ['op:alex'],
      thread_id: first.thread_id,
    });

    // Admin sockets coexist; without `mailbox` they get no mail, and another admin's mailbox is its own.
    const plain = await open(alex, {});
    const bootstrapMailbox = await open(broker.adminToken, { mailbox: true });
    const mailbox = await open(alex, { mailbox: true });
    expect(mailbox.frames[0]).toMatchObject({ identity: { kind: 'admin', name: 'alex', admin: true } });
    await mailbox.waitFor((f) => f.type === 'message' && (f.message as Message).id === second.id, {
      what: 'both messages',
    });
    expect(delivered(mailbox)).toEqual([first.id, second.id]);
    await plain.roundTrip();
    await bootstrapMailbox.roundTrip();
    expect(delivered(plain)).toEqual([]);
    expect(delivered(bootstrapMailbox)).toEqual([]);

    // An ack moves the stored cursor; a socket without resume_after resumes after it.
    mailbox.send({ type: 'ack', id: first.id });
    await waitUntil(async () => (await storedCursor('op:alex')) === first.id, {
      timeoutMs: 5000,
      what: "op:alex's stored cursor",
    });
    // A second mailbox socket replaces the first (4409); the plain one stays.
    const resumed = await open(alex, { mailbox: true });
    expect((await mailbox.closed).code).toBe(4409);
    await resumed.waitFor((f) => f.type === 'message', { what: 'the resumed delivery' });
    await resumed.roundTrip();
    expect(delivered(resumed)).toEqual([second.id]);
    expect(plain.isOpen).toBe(true);
    // resume_after below the stored ack is honoured (duplicates are the client's to drop).
    const replay = await open(alex, { mailbox: true, resume_after: '0' });
    await replay.waitFor((f) => f.type === 'message' && (f.message as Message).id === second.id, {
      what: 'the replay',
    });
    expect(delivered(replay)).toEqual([first.id, second.id]);
    // A worker token has no mailbox, even if it asks.
    const { token: worker } = await admin.post<{ token: string }>('/v1/admin/tokens', {
      kind: 'worker',
      name: 'w',
    });
    const workerSocket = await open(worker, { mailbox: true });
    await workerSocket.roundTrip();
    expect(delivered(workerSocket)).toEqual([]);
  });

  it(`keeps at most NEXUS_WS_WINDOW (${WINDOW}) unacked messages in flight, and sends more as acks arrive (B.54)`, async () => {
    const reader = await createAspect(broker.url, admin, 'reader');
    const sent: string[] = [];
    let thread: { thread_id?: string } = {};
    for (let i = 0; i < 10; i++) {
      const reply = await alice.http.post<SendReply>('/v1/messages', {
        content: `m${i}`,
        to: ['reader'],
        ...thread,
      });
      sent.push(reply.id);
      thread = { thread_id: reply.thread_id };
    }
    const socket = await open(reader.token, { instance_id: reader.instanceId }, narrow.url);
    /** Waits for the message `sent[n - 1]`, then proves with a round trip that no more came than `n`. */
    const exactly = async (n: number) => {
      await socket.waitFor((f) => f.type === 'message' && (f.message as Message).id === sent[n - 1], {
        what: `message ${n}`,
      });
      await socket.roundTrip();
      expect(delivered(socket)).toEqual(sent.slice(0, n));
    };
    await exactly(WINDOW);
    socket.send({ type: 'ack', id: sent[1] });
    await exactly(WINDOW + 2);
    socket.send({ type: 'ack', id: sent[4] });
    await exactly(WINDOW + 5);
    socket.send({ type: 'ack', id: sent[7] });
    await exactly(10);
  });
});
