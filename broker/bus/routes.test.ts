import {
  WireError,
  type AuditEntry,
  type Message,
  type SendReply,
  type Thread,
} from '../../protocol/index.js';
import type { BrokerClient } from '../../client/index.js';
import {
  adminClient,
  createAspect,
  createTestDatabase,
  startInProcessBroker,
  stateSnapshot,
  waitUntil,
  type TestAspect,
  type TestDatabase,
} from '../../testing/index.js';

describe('messages and threads over HTTP', () => {
  let db: TestDatabase;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;
  let admin: BrokerClient;
  let alice: TestAspect;
  let bob: TestAspect;
  let carol: TestAspect;

  beforeAll(async () => {
    db = await createTestDatabase('bus_routes');
    broker = await startInProcessBroker({ databaseUrl: db.url, env: { NEXUS_STALE_S: '3600' } });
    admin = adminClient(broker.url, broker.adminToken);
    alice = await createAspect(broker.url, admin, 'alice');
    bob = await createAspect(broker.url, admin, 'bob');
    carol = await createAspect(broker.url, admin, 'carol');
  });
  afterAll(async () => {
    await broker?.stop();
    await db?.drop();
  });

  const errorOf = (p: Promise<unknown>): Promise<WireError | null> =>
    p.then(
      () => null,
      (e: unknown) => e as WireError,
    );
  const send = (from: TestAspect | BrokerClient, body: Record<string, unknown>) =>
    ('http' in from ? from.http : from).call<SendReply>('POST', '/v1/messages', body);
  const history = (threadId: string) =>
    admin.get<{ messages: Message[] }>(`/v1/messages?thread_id=${threadId}`).then((r) => r.messages);
  const auditOf = async (actor: string, action: string) =>
    (
      await admin.get<{ entries: AuditEntry[] }>(
        `/v1/audit?actor=${encodeURIComponent(actor)}&action=${encodeURIComponent(action)}`,
      )
    ).entries;

  /** Runs `refused`, expects the wire error, and checks that messages, threads, tokens and roster are as before. */
  async function expectRefusedWithoutChange(
    refused: () => Promise<unknown>,
    expected: { status: number; code: string; message?: RegExp },
  ): Promise<WireError> {
    const before = await stateSnapshot(admin);
    const err = await errorOf(refused());
    expect(err).toBeInstanceOf(WireError);
    expect(err).toMatchObject({ status: expected.status, code: expected.code });
    if (expected.message) expect(err?.message).toMatch(expected.message);
    expect(await stateSnapshot(admin)).toEqual(before);
    return err as WireError;
  }

  it('creates a thread on a first send, makes sender and recipients participants, and holds mail for unregistered names', async () => {
    const { status, body } = await send(alice, { content: 'hello', to: ['bob', 'ghost'] });
    expect(status).toBe(201);
    expect(body.thread_id).toMatch(/^\d+$/);
    expect(body.id).toMatch(/^\d+$/);
    expect(body.held_for).toEqual(['ghost']);
    const thread = await admin.get<Thread>(`/v1/threads/${body.thread_id}`);
    expect(thread.participants).toEqual(['alice', 'bob', 'ghost']);
    expect(thread.last_message?.id).toBe(body.id);
    expect(await history(body.thread_id)).toMatchObject([
      { id: body.id, from: 'alice', to: ['bob', 'ghost'], kind: 'chat', content: 'hello' },
    ]);

    // A send without `to` goes to every other participant; a live one is not held.
    const reply = await send(bob, { content: 'hi all', thread_id: body.thread_id });
    expect(reply.status).toBe(201);
    expect(reply.body.thread_id).toBe(body.thread_id);
    expect(reply.body.held_for).toEqual(['ghost']);
    const mine = await bob.http.get<{ messages: Message[] }>(`/v1/messages?thread_id=${body.thread_id}`);
    expect(mine.messages.map((m) => m.content)).toEqual(['hello', 'hi all']);
  });

  it('refuses a reply_to that names a message of another thread with 400 and stores nothing', async () => {
    const first = (await send(alice, { content: 'thread one', to: ['bob'] })).body;
    const second = (await send(alice, { content: 'thread two', to: ['bob'] })).body;
    await expectRefusedWithoutChange(
      () => send(bob, { content: 'wrong thread', thread_id: second.thread_id, reply_to: first.id }),
      { status: 400, code: 'invalid_request', message: /^reply_to: / },
    );
    const ok = await send(bob, { content: 'right thread', thread_id: first.thread_id, reply_to: first.id });
    expect(ok.status).toBe(201);
    expect((await history(first.thread_id)).at(-1)).toMatchObject({ reply_to: first.id });
  });

  it('answers 404 not_found for an unknown thread on send, history and thread reads', async () => {
    const unknown = '9000000000';
    await expectRefusedWithoutChange(() => send(alice, { content: 'x', thread_id: unknown, to: ['bob'] }), {
      status: 404,
      code: 'not_found',
    });
    expect(await errorOf(alice.http.get(`/v1/messages?thread_id=${unknown}`))).toMatchObject({
      status: 404,
      code: 'not_found',
    });
    expect(await errorOf(admin.get(`/v1/threads/${unknown}`))).toMatchObject({
      status: 404,
      code: 'not_found',
    });
  });

  it('refuses a non-participant with 403 forbidden on read and post, audits each refusal, and lets participants and admins in', async () => {
    const { body } = await send(alice, { content: 'private', to: ['bob'] });
    const thread = body.thread_id;

    await expectRefusedWithoutChange(() => carol.http.get(`/v1/messages?thread_id=${thread}`), {
      status: 403,
      code: 'forbidden',
    });
    await expectRefusedWithoutChange(() => carol.http.get(`/v1/threads/${thread}`), {
      status: 403,
      code: 'forbidden',
    });
    await expectRefusedWithoutChange(() => send(carol, { content: 'let me in', thread_id: thread }), {
      status: 403,
      code: 'forbidden',
    });

    const reads = await waitUntil(
      async () => {
        const rows = (await auditOf('aspect:carol', 'thread.read')).filter((e) => e.target === thread);
        return rows.length >= 2 ? rows : null;
      },
      { timeoutMs: 5000, what: 'two audited thread reads' },
    );
    expect(reads.value).toHaveLength(2);
    expect(reads.value[0]).toMatchObject({
      outcome: 'denied',
      actor: 'aspect:carol',
      token_id: carol.tokenId,
    });
    const posts = await waitUntil(
      async () => {
        const rows = (await auditOf('aspect:carol', 'message.send')).filter((e) => e.target === thread);
        return rows.length >= 1 ? rows : null;
      },
      { timeoutMs: 5000, what: 'an audited post' },
    );
    expect(posts.value).toHaveLength(1);
    expect(posts.value[0]).toMatchObject({ outcome: 'denied' });

    // Nothing carol can list shows the thread either.
    const listed = await carol.http.get<{ threads: Thread[] }>('/v1/threads');
    expect(listed.threads.map((t) => t.id)).not.toContain(thread);
    const carolsMail = await carol.http.get<{ messages: Message[] }>('/v1/messages');
    expect(carolsMail.messages.map((m) => m.thread_id)).not.toContain(thread);

    // Participants and admins may read and post.
    expect((await bob.http.get<Thread>(`/v1/threads/${thread}`)).participants).toEqual(['alice', 'bob']);
    expect((await send(admin, { content: 'admin here', thread_id: thread })).status).toBe(201);
  });

  it('answers an idempotent repeat with 200 and the first reply, and the same key with another body with 409 conflict', async () => {
    const body = { content: 'once', to: ['bob'], idempotency_key: 'key-1' };
    const first = await send(alice, body);
    expect(first.status).toBe(201);
    // Field order does not matter: "the same body" is the same canonical JSON (B.38).
    const repeat = await send(alice, { idempotency_key: 'key-1', to: ['bob'], content: 'once' });
    expect(repeat.status).toBe(200);
    expect(repeat.body).toEqual(first.body);

    await expectRefusedWithoutChange(() => send(alice, { ...body, content: 'twice' }), {
      status: 409,
      code: 'conflict',
    });
    expect((await history(first.body.thread_id)).map((m) => m.content)).toEqual(['once']);

    // Keys belong to the sender: bob's key-1 is a new message.
    const bobs = await send(bob, { ...body, to: ['alice'] });
    expect(bobs.status).toBe(201);
    expect(bobs.body.id).not.toBe(first.body.id);
  });

  it('refuses a message addressed only to its sender with 400 no_recipient', async () => {
    await expectRefusedWithoutChange(() => send(alice, { content: 'note to self', to: ['alice'] }), {
      status: 400,
      code: 'no_recipient',
    });
    // In a thread where the sender is alone and no frame is registered, an empty `to` has no one either.
    await expectRefusedWithoutChange(() => send(alice, { content: 'anyone?' }), {
      status: 400,
      code: 'no_recipient',
    });
  });

  it("reads an empty `to` as no `to`: the thread's participants (B.86)", async () => {
    const { body } = await send(alice, { content: 'start', to: ['bob', 'carol'] });
    const reply = await send(bob, { content: 'to everyone here', to: [], thread_id: body.thread_id });
    expect(reply.status).toBe(201);
    const rows = await admin.get<{ messages: Message[] }>(`/v1/messages?thread_id=${body.thread_id}`);
    expect(rows.messages.at(-1)).toMatchObject({ id: reply.body.id, to: [] });
    for (const reader of [alice, carol]) {
      const mine = await reader.http.get<{ messages: Message[] }>('/v1/messages?limit=1000');
      expect(mine.messages.map((m) => m.id)).toContain(reply.body.id);
    }
    // With no thread and no frame, an empty `to` has no one, exactly like no `to`.
    await expectRefusedWithoutChange(() => send(alice, { content: 'anyone?', to: [] }), {
      status: 400,
      code: 'no_recipient',
      message: /no frame is registered/,
    });
  });

  it('refuses op:NAME when no admin token carries the name, and delivers to a named operator', async () => {
    await expectRefusedWithoutChange(() => send(alice, { content: 'hey op', to: ['op:nobody'] }), {
      status: 400,
      code: 'no_recipient',
      message: /op:nobody/,
    });
    const ok = await send(alice, { content: 'hey bootstrap', to: ['op:bootstrap'] });
    expect(ok.status).toBe(201);
    expect(ok.body.held_for).toBeUndefined();
  });

  it('refuses a spoofed `from` with 403 identity_mismatch, stores nothing and audits it; its own name is accepted', async () => {
    const err = await expectRefusedWithoutChange(
      () => send(alice, { content: 'from bob, honest', from: 'bob', to: ['carol'] }),
      { status: 403, code: 'identity_mismatch', message: /^from: / },
    );
    expect(err.message).not.toContain('from bob, honest');
    await waitUntil(async () => (await auditOf('aspect:alice', 'message.send')).length > 0, {
      timeoutMs: 5000,
      what: 'the audited spoof',
    });
    expect(await auditOf('aspect:alice', 'message.send')).toMatchObject([
      { outcome: 'denied', target: 'bob', details: { reason: 'identity_mismatch' } },
    ]);
    const ok = await send(alice, { content: 'from me', from: 'alice', to: ['carol'] });
    expect(ok.status).toBe(201);
    expect((await history(ok.body.thread_id))[0]).toMatchObject({ from: 'alice' });
  });

  it('refuses kind "hand" (and every kind but chat) from a client with 400 naming `kind`', async () => {
    for (const kind of ['hand', 'hand_result', 'system']) {
      await expectRefusedWithoutChange(() => send(alice, { content: 'sneaky', kind, to: ['bob'] }), {
        status: 400,
        code: 'invalid_request',
        message: /^kind: /,
      });
    }
    expect((await send(alice, { content: 'plain', kind: 'chat', to: ['bob'] })).status).toBe(201);
  });

  it('answers 400 naming the field for malformed ids in paths and queries, never 500', async () => {
    expect(await errorOf(admin.get('/v1/threads/abc'))).toMatchObject({
      status: 400,
      code: 'invalid_request',
      message: 'id: must be a decimal id string',
    });
    expect(await errorOf(admin.get('/v1/aspects/Not_A_Name'))).toMatchObject({
      status: 400,
      message: expect.stringMatching(/^name: /),
    });
    expect(await errorOf(admin.delete('/v1/admin/tokens/first'))).toMatchObject({
      status: 400,
      message: 'id: must be a decimal id string',
    });
    expect(await errorOf(admin.get('/v1/messages?thread_id=abc'))).toMatchObject({
      status: 400,
      code: 'invalid_request',
      message: expect.stringMatching(/^thread_id: /),
    });
    expect(await errorOf(admin.get('/v1/threads?after=-1'))).toMatchObject({
      status: 400,
      message: expect.stringMatching(/^after: /),
    });
    await expectRefusedWithoutChange(() => send(alice, { content: 'x', to: ['bob'], reply_to: 'first' }), {
      status: 400,
      code: 'invalid_request',
      message: /^reply_to: /,
    });
  });
});
