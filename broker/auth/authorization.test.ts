/**
 * Authorization probes (QUALITY fault 16, SPEC section 3, B.2, B.7, B.8): each refusal has the SPEC
 * code, leaves state unchanged, and a refusal of a known token is audited.
 */
import { randomUUID } from 'node:crypto';
import { BrokerClient } from '../../client/index.js';
import { WireError, type AuditEntry, type MintTokenReply } from '../../protocol/index.js';
import {
  adminClient,
  createAspect,
  createTestDatabase,
  newAdminTokenValue,
  openRawSocket,
  registerBody,
  startInProcessBroker,
  stateSnapshot,
  waitUntil,
  type TestAspect,
  type TestDatabase,
} from '../../testing/index.js';

describe('authorization probes', () => {
  let db: TestDatabase;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;
  let admin: BrokerClient;
  let alice: TestAspect;
  let mallory: TestAspect;
  let worker: { id: string; token: string; http: BrokerClient };
  let thread: string;

  beforeAll(async () => {
    db = await createTestDatabase('authorization');
    broker = await startInProcessBroker({ databaseUrl: db.url, env: { NEXUS_STALE_S: '3600' } });
    admin = adminClient(broker.url, broker.adminToken);
    alice = await createAspect(broker.url, admin, 'alice');
    await createAspect(broker.url, admin, 'bob');
    mallory = await createAspect(broker.url, admin, 'mallory');
    const minted = await admin.post<MintTokenReply>('/v1/admin/tokens', { kind: 'worker', name: 'w1' });
    worker = {
      id: minted.id,
      token: minted.token,
      http: new BrokerClient({ url: broker.url, token: minted.token }),
    };
    thread = (
      await alice.http.post<{ thread_id: string }>('/v1/messages', { content: 'secret plan', to: ['bob'] })
    ).thread_id;
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

  /** The audit rows of `actor` for `action`, once at least `n` are there (audit writes do not delay the reply). */
  async function audited(actor: string, action: string, n = 1): Promise<AuditEntry[]> {
    const { value } = await waitUntil(
      async () => {
        const { entries } = await admin.get<{ entries: AuditEntry[] }>(
          `/v1/audit?actor=${encodeURIComponent(actor)}&action=${encodeURIComponent(action)}&limit=1000`,
        );
        return entries.length >= n ? entries : null;
      },
      { timeoutMs: 5000, what: `${n} audit row(s) for ${actor} ${action}` },
    );
    return value;
  }

  async function expectRefused(
    call: () => Promise<unknown>,
    expected: { status: number; code: string },
  ): Promise<WireError> {
    const before = await stateSnapshot(admin);
    const err = await errorOf(call());
    expect(err).toBeInstanceOf(WireError);
    expect(err).toMatchObject(expected);
    expect(await stateSnapshot(admin)).toEqual(before);
    return err as WireError;
  }

  it('refuses a non-participant reading a thread: 403 forbidden, audited, nothing shown', async () => {
    const err = await expectRefused(() => mallory.http.get(`/v1/messages?thread_id=${thread}`), {
      status: 403,
      code: 'forbidden',
    });
    expect(err.message).not.toContain('secret plan');
    await expectRefused(() => mallory.http.get(`/v1/threads/${thread}`), { status: 403, code: 'forbidden' });
    const rows = await audited('aspect:mallory', 'thread.read', 2);
    expect(
      rows.every((r) => r.outcome === 'denied' && r.target === thread && r.token_id === mallory.tokenId),
    ).toBe(true);
  });

  it('refuses a spoofed `from` over HTTP and over the socket: 403 identity_mismatch, nothing stored, audited', async () => {
    await expectRefused(
      () => mallory.http.post('/v1/messages', { content: 'x', from: 'alice', to: ['bob'] }),
      {
        status: 403,
        code: 'identity_mismatch',
      },
    );
    const socket = await mallory.connect(broker.url);
    const before = await stateSnapshot(admin);
    const frame = await socket.send({ content: 'x', from: 'alice', to: ['bob'] });
    expect(frame).toMatchObject({ type: 'error', code: 'identity_mismatch' });
    expect(await stateSnapshot(admin)).toEqual(before);
    socket.close();
    const rows = await audited('aspect:mallory', 'message.send', 2);
    expect(rows.map((r) => r.details)).toEqual([
      { reason: 'identity_mismatch' },
      { reason: 'identity_mismatch' },
    ]);
  });

  it('refuses a worker token sending a message over HTTP and over the socket: 403, nothing stored, audited', async () => {
    await expectRefused(() => worker.http.post('/v1/messages', { content: 'x', to: ['bob'] }), {
      status: 403,
      code: 'forbidden',
    });
    const socket = await openRawSocket(broker.url, worker.token);
    socket.send({ type: 'hello' });
    await socket.waitFor((f) => f.type === 'welcome', { what: 'welcome' });
    const before = await stateSnapshot(admin);
    socket.send({ type: 'send', ref: 'w', message: { content: 'x', to: ['bob'] } });
    expect(await socket.waitFor((f) => f.ref === 'w', { what: 'the reply to w' })).toMatchObject({
      type: 'error',
      code: 'forbidden',
    });
    expect(await stateSnapshot(admin)).toEqual(before);
    socket.close();
    const rows = await audited('worker:w1', 'message.send', 2);
    expect(rows.every((r) => r.outcome === 'denied' && r.token_id === worker.id)).toBe(true);
  });

  it('refuses a worker or admin token registering, heartbeating or deregistering an aspect: 403, audited', async () => {
    const instance = randomUUID();
    const calls: [string, unknown][] = [
      ['/v1/aspects/register', registerBody('w1', instance)],
      ['/v1/aspects/heartbeat', { instance_id: instance }],
      ['/v1/aspects/deregister', { instance_id: instance }],
    ];
    for (const [path, body] of calls) {
      await expectRefused(() => worker.http.post(path, body), { status: 403, code: 'forbidden' });
    }
    await expectRefused(() => admin.post('/v1/aspects/register', registerBody('bootstrap', instance)), {
      status: 403,
      code: 'forbidden',
    });
    const rows = await audited('worker:w1', 'aspect.register');
    expect(rows[0]).toMatchObject({ outcome: 'denied', token_id: worker.id });
    await audited('worker:w1', 'aspect.heartbeat');
    await audited('worker:w1', 'aspect.deregister');
    await audited('op:bootstrap', 'aspect.register');
  });

  it('refuses an aspect registering, heartbeating or deregistering as someone else', async () => {
    await expectRefused(
      () => mallory.http.post('/v1/aspects/register', registerBody('alice', randomUUID())),
      {
        status: 403,
        code: 'identity_mismatch',
      },
    );
    // Heartbeat and deregister act on the caller's own aspect: alice's instance id from mallory is a 409.
    await expectRefused(
      () => mallory.http.post('/v1/aspects/deregister', { instance_id: alice.instanceId }),
      {
        status: 409,
        code: 'conflict',
      },
    );
    expect(await admin.get('/v1/aspects/alice')).toMatchObject({ status: 'live' });
    await audited('aspect:mallory', 'aspect.register');
  });

  it('refuses a socket subscription to a thread the caller is not in, and admin-only subscriptions: audited', async () => {
    const socket = await mallory.connect(broker.url);
    const frames: unknown[] = [];
    const raw = await openRawSocket(broker.url, mallory.token);
    raw.send({ type: 'hello', instance_id: mallory.instanceId });
    await raw.waitFor((f) => f.type === 'welcome', { what: 'welcome' });
    raw.send({ type: 'subscribe', threads: [thread] });
    frames.push(await raw.waitFor((f) => f.type === 'error', { what: 'an error for the thread' }));
    const mark = raw.frames.length;
    raw.send({ type: 'subscribe', threads: '*' });
    frames.push(await raw.waitFor((f) => f.type === 'error', { from: mark, what: 'an error for "*"' }));
    expect(frames).toMatchObject([
      { code: 'forbidden', message: expect.stringMatching(/^threads: /) },
      { code: 'admin_required', message: expect.stringMatching(/^threads: /) },
    ]);
    await raw.roundTrip();
    raw.close();
    socket.close();
    await audited('aspect:mallory', 'socket.subscribe', 2);
  });

  it('refuses publishing events from a token that is not an aspect: forbidden, audited', async () => {
    const raw = await openRawSocket(broker.url, worker.token);
    raw.send({ type: 'hello' });
    await raw.waitFor((f) => f.type === 'welcome', { what: 'welcome' });
    raw.send({ type: 'publish', event: { kind: 'turn.start', ts: new Date().toISOString(), data: {} } });
    expect(await raw.waitFor((f) => f.type === 'error', { what: 'an error' })).toMatchObject({
      code: 'forbidden',
    });
    await raw.roundTrip();
    raw.close();
    await audited('worker:w1', 'event.publish');
  });

  it('refuses a stayed-down aspect registering or sending: 403 stay_down, nothing stored, audited', async () => {
    const sleepy = await createAspect(broker.url, admin, 'sleepy');
    await admin.post('/v1/admin/aspects/sleepy/shutdown');
    await expectRefused(
      () => sleepy.http.post('/v1/aspects/register', registerBody('sleepy', randomUUID())),
      {
        status: 403,
        code: 'stay_down',
      },
    );
    await expectRefused(() => sleepy.http.post('/v1/messages', { content: 'still here', to: ['bob'] }), {
      status: 403,
      code: 'stay_down',
    });
    expect((await audited('aspect:sleepy', 'aspect.register'))[0]).toMatchObject({
      outcome: 'denied',
      details: { reason: 'stay_down' },
    });
    await audited('aspect:sleepy', 'message.send');
  });

  it('answers unknown and revoked tokens 401 on HTTP and at the socket upgrade, and audits the address', async () => {
    const unknown = new BrokerClient({ url: broker.url, token: newAdminTokenValue() });
    await expectRefused(() => unknown.post('/v1/admin/tokens', { kind: 'admin', name: 'x' }), {
      status: 401,
      code: 'unauthenticated',
    });
    await expectRefused(() => unknown.post('/v1/messages', { content: 'x', to: ['bob'] }), {
      status: 401,
      code: 'unauthenticated',
    });
    const garbage = new BrokerClient({ url: broker.url, token: 'not-a-token' });
    await expectRefused(() => garbage.get('/v1/aspects'), { status: 401, code: 'unauthenticated' });
    await expect(openRawSocket(broker.url, newAdminTokenValue())).rejects.toThrow(/HTTP 401/);

    const minted = await admin.post<MintTokenReply>('/v1/admin/tokens', { kind: 'aspect', aspect: 'gone' });
    await admin.delete(`/v1/admin/tokens/${minted.id}`);
    const revoked = new BrokerClient({ url: broker.url, token: minted.token });
    await expectRefused(() => revoked.get('/v1/aspects'), { status: 401, code: 'unauthenticated' });

    const { entries } = await admin.get<{ entries: AuditEntry[] }>('/v1/audit?action=authenticate');
    expect(entries.length).toBeGreaterThanOrEqual(1);
    expect(entries[0]).toMatchObject({
      outcome: 'denied',
      token_id: null,
      actor: expect.stringMatching(/^address:/),
    });
  });
});
