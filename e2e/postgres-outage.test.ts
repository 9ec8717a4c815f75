import {
  adminClient,
  createAspect,
  createThrowawayPostgres,
  newAdminTokenValue,
  postMessage,
  runNexus,
  sleep,
  startBrokerProcess,
  waitUntil,
  type BrokerProcess,
  type TestAspect,
  type ThrowawayPostgres,
} from '../testing/index.js';

const OUTAGE_MS = 10_000;

/**
 * QUALITY.md fault scenario 3 (SPEC section 12, B.39, B.5). Stopping Postgres needs a cluster of
 * the test's own (SPEC B.32): its database is made by `nexus migrate`, as a user would, rather
 * than cloned from the shared server's template.
 */
describe('Postgres stopped for 10 s under a running broker', () => {
  let cluster: ThrowawayPostgres;
  let broker: BrokerProcess;
  const bootstrap = newAdminTokenValue();
  const aspects: TestAspect[] = [];

  beforeAll(async () => {
    cluster = await createThrowawayPostgres();
    const databaseUrl = cluster.url('nexus_outage');
    const migrated = await runNexus(['migrate'], { DATABASE_URL: databaseUrl });
    expect(migrated).toMatchObject({ code: 0 });
    broker = await startBrokerProcess({ databaseUrl, bootstrapToken: bootstrap });
  });

  afterAll(async () => {
    for (const aspect of aspects) aspect.socket?.close();
    await broker?.stop();
    await cluster?.destroy();
  });

  const readyz = async () => (await fetch(`${broker.url}/readyz`)).status;
  const alive = () => broker.child.exitCode === null && broker.child.signalCode === null;

  it('answers 503 with Retry-After while it is down, keeps running, and recovers within 5 s of its return with nothing acknowledged missing', async () => {
    const admin = adminClient(broker.url, bootstrap);
    const sender = await createAspect(broker.url, admin, 'sender');
    const receiver = await createAspect(broker.url, admin, 'receiver');
    aspects.push(sender, receiver);
    await receiver.connect(broker.url);
    const before: string[] = [];
    let thread: { thread_id?: string } = {};
    for (let i = 0; i < 20; i++) {
      const reply = await sender.http.post<{ id: string; thread_id: string }>('/v1/messages', {
        content: `before ${i}`,
        to: ['receiver'],
        ...thread,
      });
      before.push(reply.id);
      thread = { thread_id: reply.thread_id };
    }
    await waitUntil(() => receiver.received.length === before.length, {
      timeoutMs: 10_000,
      what: 'the messages sent before the outage',
    });

    await cluster.stop();
    const stoppedAt = Date.now();
    // A write at once (its query finds the database gone) and one after /readyz has failed
    // (refused before any query): both 503 with Retry-After.
    const during = [await postMessage(broker.url, sender.token, { content: 'during', ...thread })];
    await waitUntil(async () => (await readyz()) === 503, { timeoutMs: 5000, what: '/readyz to fail' });
    during.push(await postMessage(broker.url, sender.token, { content: 'during', ...thread }));
    for (const reply of during) {
      expect(reply).toMatchObject({ status: 503, body: { error: { code: 'unavailable' } } });
      expect(Number(reply.retryAfter)).toBeGreaterThan(0);
    }
    // Sockets close with 1013 while the database is unreachable (SPEC B.9); the client retries.
    await waitUntil(() => receiver.closes.length > 0, { timeoutMs: 5000, what: 'the socket to close' });
    expect(receiver.closes[0]).toBe(1013);
    await sleep(stoppedAt + OUTAGE_MS - Date.now());
    expect(await readyz()).toBe(503);
    expect((await fetch(`${broker.url}/healthz`)).status).toBe(200);
    expect(alive()).toBe(true);

    await cluster.start();
    let after: string | null = null;
    const { elapsedMs } = await waitUntil(
      async () => {
        if ((await readyz()) !== 200 || !receiver.socket?.isOpen) return false;
        const reply = await postMessage(broker.url, sender.token, { content: 'after', ...thread });
        if (reply.status === 201) after = (reply.body as { id: string }).id;
        return after !== null;
      },
      { timeoutMs: 15_000, what: 'ready, the socket back and a send accepted (bound 5 s, with a 3x margin)' },
    );
    console.log(`postgres-outage: recovered ${elapsedMs} ms after Postgres came back (bound 5 s)`);

    const history = await admin.get<{ messages: { id: string }[] }>(
      `/v1/messages?thread_id=${thread.thread_id}&limit=100`,
    );
    expect(history.messages.map((m) => m.id)).toEqual([...before, after]);
    await waitUntil(() => receiver.received.some((m) => m.id === after), {
      timeoutMs: 10_000,
      what: 'the message sent after the outage to be delivered',
    });
    expect(receiver.received.map((m) => m.id)).toEqual([...before, after]);
    expect(alive()).toBe(true);
  });
});
