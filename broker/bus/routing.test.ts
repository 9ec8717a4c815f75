/**
 * Where a message goes, and who may send it (B.23, B.36, B.58): messages to no one go to the
 * registered frame whatever its status, a never-registered name holds at most 1,000 messages, and
 * `comms.send_to` limits explicit and resolved recipients, with the frame and operators always
 * allowed.
 */
import { randomUUID } from 'node:crypto';
import { BrokerClient } from '../../client/index.js';
import { WireError, type Message, type SendReply, type Thread } from '../../protocol/index.js';
import {
  adminClient,
  createAspect,
  createTestDatabase,
  mintAspectToken,
  registerBody,
  startInProcessBroker,
  stateSnapshot,
  type TestAspect,
  type TestDatabase,
} from '../../testing/index.js';

describe('routing and who may be messaged', () => {
  let db: TestDatabase;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;
  let admin: BrokerClient;
  let alice: TestAspect;
  let bob: TestAspect;
  let carol: TestAspect;

  beforeAll(async () => {
    db = await createTestDatabase('bus_routing');
    broker = await startInProcessBroker({
      databaseUrl: db.url,
      env: { NEXUS_STALE_S: '3600', NEXUS_RATE_LIMITS: 'off' },
    });
    admin = adminClient(broker.url, broker.adminToken);
    alice = await createAspect(broker.url, admin, 'alice');
    bob = await createAspect(broker.url, admin, 'bob');
    carol = await createAspect(broker.url, admin, 'carol');
  });
  afterAll(async () => {
    await broker?.stop();
    await db?.drop();
  });

  const send = (from: TestAspect | BrokerClient, body: Record<string, unknown>) =>
    ('http' in from ? from.http : from).call<SendReply>('POST', '/v1/messages', body);
  const errorOf = (p: Promise<unknown>) =>
    p.then(
      () => null,
      (e: unknown) => e as WireError,
    );
  /** Expects `refused` to fail with `expected` and to change nothing. */
  const expectRefused = async (refused: () => Promise<unknown>, expected: Record<string, unknown>) => {
    const before = await stateSnapshot(admin);
    expect(await errorOf(refused())).toMatchObject(expected);
    expect(await stateSnapshot(admin)).toEqual(before);
  };
  /** Registers `name` with `extra` aspect.json fields; `admin` mints an admin-scoped token (a frame's). */
  const register = async (name: string, extra: Record<string, unknown>, scoped = false) => {
    const { token } = await mintAspectToken(admin, name, scoped ? { admin: true } : {});
    const client = new BrokerClient({ url: broker.url, token });
    const instanceId = randomUUID();
    await client.post('/v1/aspects/register', registerBody(name, instanceId, extra));
    return { client, instanceId };
  };

  it('sends a message to no one to the frame, live or down (held), and makes the frame a participant (B.36)', async () => {
    const frame = await register('frame', { role: 'frame' }, true);
    const live = await send(alice, { content: 'who can help?' });
    expect(live.status).toBe(201);
    expect(live.body.held_for).toBeUndefined();
    const thread = await admin.get<Thread>(`/v1/threads/${live.body.thread_id}`);
    expect(thread.participants).toEqual(['alice', 'frame']);
    const inbox = await frame.client.get<{ messages: Message[] }>('/v1/messages');
    expect(inbox.messages.map((m) => m.id)).toContain(live.body.id);
    // The frame replies into the thread without naming anyone: it reaches alice.
    const reply = await send(frame.client, { content: 'I can', thread_id: live.body.thread_id });
    expect(reply.status).toBe(201);

    // Down, the frame still receives it: held until it registers again.
    await frame.client.post('/v1/aspects/deregister', { instance_id: frame.instanceId });
    const held = await send(alice, { content: 'anyone there?', to: [] });
    expect(held.status).toBe(201);
    expect(held.body.held_for).toEqual(['frame']);
    expect((await admin.get<Thread>(`/v1/threads/${held.body.thread_id}`)).participants).toEqual([
      'alice',
      'frame',
    ]);
    // The frame itself cannot send to no one: it would be its own recipient.
    await expectRefused(() => send(frame.client, { content: 'to myself?' }), {
      status: 400,
      code: 'no_recipient',
    });
  });

  it('holds at most 1,000 messages for a never-registered name, then answers 409 conflict mailbox_full (B.36)', async () => {
    for (let sent = 0; sent < 1000; sent += 25)
      await Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          send(alice, { content: `for ghost ${sent + i}`, to: ['ghost'] }),
        ),
      );
    await expectRefused(() => send(bob, { content: 'one too many', to: ['ghost'] }), {
      status: 409,
      code: 'conflict',
      details: { reason: 'mailbox_full' },
      message: expect.stringContaining('ghost'),
    });
    // A message naming the full mailbox among others is refused whole.
    await expectRefused(() => send(bob, { content: 'two of us', to: ['carol', 'ghost'] }), {
      status: 409,
      details: { reason: 'mailbox_full' },
    });
    // Once the name registers, its mail is its own to drain: no bound.
    await register('ghost', {});
    expect((await send(bob, { content: 'welcome', to: ['ghost'] })).status).toBe(201);
  });

  it('limits explicit and resolved recipients to comms.send_to; the frame and operators are always allowed (B.23, B.58)', async () => {
    const narrow = await register('narrow', { comms: { send_to: ['bob'] } });
    expect((await send(narrow.client, { content: 'hi bob', to: ['bob'] })).status).toBe(201);
    await expectRefused(() => send(narrow.client, { content: 'hi carol', to: ['carol'] }), {
      status: 403,
      code: 'forbidden',
      message: 'narrow may not message carol (comms.send_to)',
    });
    await expectRefused(() => send(narrow.client, { content: 'both', to: ['bob', 'carol'] }), {
      status: 403,
      code: 'forbidden',
    });
    expect((await send(narrow.client, { content: 'hi op', to: ['op:bootstrap'] })).status).toBe(201);
    expect((await send(narrow.client, { content: 'hi frame', to: ['frame'] })).status).toBe(201);
    // Resolved recipients count too: a thread where carol takes part is closed to narrow's replies.
    const { body } = await send(carol, { content: 'join us', to: ['narrow', 'bob'] });
    await expectRefused(() => send(narrow.client, { content: 'to all of you', thread_id: body.thread_id }), {
      status: 403,
      code: 'forbidden',
    });
    expect(
      (await send(narrow.client, { content: 'bob only', to: ['bob'], thread_id: body.thread_id })).status,
    ).toBe(201);
    // The default, ["*"], allows anyone.
    expect((await send(bob, { content: 'hi carol', to: ['carol'] })).status).toBe(201);
  });
});
