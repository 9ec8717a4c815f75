/**
 * The thread turn limit (B.59, B.83, B.84): the broker counts, per thread, the `chat` messages
 * aspects sent since the last message from an operator. The one that takes the count past
 * NEXUS_THREAD_TURN_LIMIT, and every one after it, is stored and delivered with `turn_limit:
 * true`; the first of a run also brings one `system` note from the reserved sender `nexus`.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { BrokerClient } from '../../client/index.js';
import { WireError, type Message, type SendReply } from '../../protocol/index.js';
import {
  adminClient,
  createAspect,
  createTestDatabase,
  mintAspectToken,
  registerBody,
  startInProcessBroker,
  waitUntil,
  type TestAspect,
  type TestDatabase,
} from '../../testing/index.js';

describe('the thread turn limit', () => {
  let db: TestDatabase;
  let sql: pg.Client;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;
  let unlimited: Awaited<ReturnType<typeof startInProcessBroker>>;
  let admin: BrokerClient;
  let ping: TestAspect;
  let pong: TestAspect;

  beforeAll(async () => {
    db = await createTestDatabase('turn_limit');
    broker = await startInProcessBroker({
      databaseUrl: db.url,
      env: { NEXUS_THREAD_TURN_LIMIT: '3', NEXUS_STALE_S: '3600', NEXUS_RATE_LIMITS: 'off' },
    });
    // A second replica with the guard off; the same bootstrap token, or it would replace the first's.
    unlimited = await startInProcessBroker({
      databaseUrl: db.url,
      env: { NEXUS_THREAD_TURN_LIMIT: '0', NEXUS_STALE_S: '3600', NEXUS_BOOTSTRAP_TOKEN: broker.adminToken },
    });
    admin = adminClient(broker.url, broker.adminToken);
    ping = await createAspect(broker.url, admin, 'ping');
    pong = await createAspect(broker.url, admin, 'pong');
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
  });
  afterAll(async () => {
    ping?.socket?.close();
    pong?.socket?.close();
    await sql?.end();
    await unlimited?.stop();
    await broker?.stop();
    await db?.drop();
  });

  const say = (from: TestAspect | BrokerClient, thread: string | null, content: string, url = broker.url) =>
    new BrokerClient({ url, token: 'http' in from ? from.token : broker.adminToken }).post<SendReply>(
      '/v1/messages',
      { content, ...(thread ? { thread_id: thread } : { to: ['pong'] }) },
    );
  const thread = async (id: string) =>
    (await admin.get<{ messages: Message[] }>(`/v1/messages?thread_id=${id}&limit=1000`)).messages;
  /** Each message of the thread as `from:kind` with `!` when it carries turn_limit. */
  const shape = (messages: Message[]) => messages.map((m) => `${m.from}:${m.kind}${m.turn_limit ? '!' : ''}`);
  const recipientsOf = async (id: string) =>
    (
      await sql.query<{ recipient: string }>(
        'SELECT recipient FROM message_recipients WHERE message_id = $1 ORDER BY recipient',
        [id],
      )
    ).rows.map((r) => r.recipient);

  it('flags the message past the limit and all after it, notes the first once, and an operator message resets the count', async () => {
    await pong.connect(broker.url);
    const first = await say(ping, null, 'one');
    const id = first.thread_id;
    await say(pong, id, 'two');
    await say(ping, id, 'three');
    const fourth = await say(pong, id, 'four');
    const fifth = await say(ping, id, 'five');
    expect(shape(await thread(id))).toEqual([
      'ping:chat',
      'pong:chat',
      'ping:chat',
      'pong:chat!',
      'nexus:system!',
      'ping:chat!',
    ]);
    const note = (await thread(id))[4] as Message;
    expect(note).toMatchObject({ from: 'nexus', kind: 'system', to: [], turn_limit: true });
    expect(note.content).toMatch(/turn limit/);
    expect(note.content).toMatch(/operator/);
    expect(BigInt(note.id)).toBeGreaterThan(BigInt(fourth.id));
    expect(await recipientsOf(note.id)).toEqual(['ping', 'pong']);
    // Delivered like any message, flag included.
    await waitUntil(() => pong.received.some((m) => m.id === fifth.id), {
      timeoutMs: 10_000,
      what: "the note and the next message over pong's socket",
    });
    expect(pong.received.find((m) => m.id === note.id)).toMatchObject({ from: 'nexus', turn_limit: true });
    expect(pong.received.find((m) => m.id === fifth.id)).toMatchObject({ turn_limit: true });
    expect(pong.received.find((m) => m.id === first.id)?.turn_limit).toBeUndefined();

    // A message from an operator resets the count: three more, then the limit again, noted again.
    await say(admin, id, 'carry on');
    for (const [from, text] of [
      [pong, 'six'],
      [ping, 'seven'],
      [pong, 'eight'],
      [ping, 'nine'],
      [pong, 'ten'],
    ] as const)
      await say(from, id, text);
    const after = shape(await thread(id)).slice(6);
    expect(after).toEqual([
      'op:bootstrap:chat',
      'pong:chat',
      'ping:chat',
      'pong:chat',
      'ping:chat!',
      'nexus:system!',
      'pong:chat!',
    ]);
    const secondNote = (await thread(id))[11] as Message;
    expect(await recipientsOf(secondNote.id)).toEqual(['op:bootstrap', 'ping', 'pong']);
  });

  it('counts per thread, and a limit of 0 turns the guard off', async () => {
    const first = await say(ping, null, 'a', unlimited.url);
    const id = first.thread_id;
    for (let i = 0; i < 6; i++) await say(i % 2 ? ping : pong, id, `reply ${i}`, unlimited.url);
    expect(shape(await thread(id)).filter((s) => s.includes('!') || s.startsWith('nexus'))).toEqual([]);
    // The count is kept either way: the next message through the limited replica is past it.
    await say(pong, id, 'through the limited replica');
    expect(shape(await thread(id)).slice(-2)).toEqual(['pong:chat!', 'nexus:system!']);
    // Another thread starts from nothing.
    const other = await say(ping, null, 'elsewhere');
    expect(shape(await thread(other.thread_id))).toEqual(['ping:chat']);
  });

  it('reserves the name nexus: no aspect or admin token may take it (B.84)', async () => {
    for (const body of [
      { kind: 'aspect', aspect: 'nexus' },
      { kind: 'admin', name: 'nexus' },
    ]) {
      const err = await admin.post('/v1/admin/tokens', body).catch((e: unknown) => e as WireError);
      expect(err).toMatchObject({ status: 400, code: 'invalid_request' });
      expect((err as WireError).message).toMatch(/nexus.*reserved/);
    }
    // A token minted for it before the rule existed cannot register it either.
    const token = `nxa_${'n'.repeat(43)}`;
    await sql.query(`INSERT INTO tokens (hash, kind, aspect) VALUES ($1, 'aspect', 'nexus')`, [
      createHash('sha256').update(token).digest(),
    ]);
    const err = await new BrokerClient({ url: broker.url, token })
      .post('/v1/aspects/register', registerBody('nexus', 'i-1'))
      .catch((e: unknown) => e as WireError);
    expect(err).toMatchObject({ status: 400, code: 'invalid_request' });
    expect((err as WireError).message).toMatch(/^name: .*reserved/);
    // Nor send as it.
    const sent = await new BrokerClient({ url: broker.url, token })
      .post('/v1/messages', { content: 'I am the broker', to: ['ping'] })
      .catch((e: unknown) => e as WireError);
    expect(sent).toMatchObject({ status: 403, code: 'forbidden' });
    // An ordinary name is unaffected.
    expect(await mintAspectToken(admin, 'nexus-fan')).toMatchObject({ token: expect.any(String) });
  });
});
