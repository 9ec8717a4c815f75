import {
  adminClient,
  createAspect,
  createTestDatabase,
  newAdminTokenValue,
  startBrokerProcess,
  waitUntil,
  type BrokerProcess,
  type TestDatabase,
  type TestAspect,
} from '../testing/index.js';

describe('the bus across two broker replicas', () => {
  let db: TestDatabase;
  let replicaA: BrokerProcess;
  let replicaB: BrokerProcess;
  const bootstrap = newAdminTokenValue();

  beforeAll(async () => {
    db = await createTestDatabase('bus_two_replicas');
    // The sender pushes 1,000 frames back to back; on a fast machine that outruns B.33's 200 frames/s
    // (burst 400) and the replica rightly closes it with 1008. This test is about delivery, not limits:
    // nor the thread turn limit, whose note would be one more message than the test sent (B.83).
    const env = { NEXUS_RATE_LIMITS: 'off', NEXUS_THREAD_TURN_LIMIT: '0' };
    [replicaA, replicaB] = await Promise.all([
      startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap, env }),
      startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap, env }),
    ]);
  });

  const aspects: TestAspect[] = [];
  afterEach(() => {
    for (const aspect of aspects.splice(0)) aspect.socket?.close();
  });

  afterAll(async () => {
    await Promise.all([replicaA?.stop(), replicaB?.stop()]);
    await db?.drop();
  });

  it('delivers 1,000 messages from replica A to replica B once each, in id order, across a reconnect to the other replica', async () => {
    const admin = adminClient(replicaA.url, bootstrap);
    const sender = await createAspect(replicaA.url, admin, 'sender');
    const receiver = await createAspect(replicaB.url, admin, 'receiver');
    aspects.push(sender, receiver);
    const senderSocket = await sender.connect(replicaA.url);
    await receiver.connect(replicaB.url);

    const sentIds: string[] = [];
    let thread: string | undefined;
    for (let i = 0; i < 1000; i++) {
      const frame = await senderSocket.send({
        content: `m${i}`,
        to: ['receiver'],
        ...(thread ? { thread_id: thread } : {}),
      });
      if (frame.type !== 'sent') throw new Error(`send ${i} failed: ${JSON.stringify(frame)}`);
      thread ??= frame.thread_id;
      sentIds.push(frame.id);
      if (i === 400) {
        // Midway, the receiver drops its socket and comes back on the other replica.
        await waitUntil(() => receiver.received.length >= 100, {
          timeoutMs: 10_000,
          what: 'some deliveries before the drop',
        });
        receiver.socket?.close();
        await receiver.connect(replicaA.url);
      }
    }

    await waitUntil(() => receiver.received.length >= 1000, {
      timeoutMs: 20_000,
      what: 'all 1,000 deliveries',
    });
    const receivedIds = receiver.received.map((m) => m.id);
    expect(new Set(receivedIds).size).toBe(1000);
    expect(receivedIds).toEqual([...receivedIds].sort((a, b) => Number(BigInt(a) - BigInt(b))));
    expect(new Set(receivedIds)).toEqual(new Set(sentIds));
    expect(receiver.received.map((m) => m.content)).toEqual(Array.from({ length: 1000 }, (_, i) => `m${i}`));
  });

  it('replays exactly what a receiver missed while it was away, when it resumes on the other replica', async () => {
    const admin = adminClient(replicaB.url, bootstrap);
    const sender = await createAspect(replicaA.url, admin, 'sender-two');
    const receiver = await createAspect(replicaB.url, admin, 'receiver-two');
    aspects.push(sender, receiver);
    await receiver.connect(replicaB.url);
    const first = await sender.http.post<{ id: string; thread_id: string }>('/v1/messages', {
      content: 'before',
      to: ['receiver-two'],
    });
    await waitUntil(() => receiver.received.length === 1, { timeoutMs: 5000, what: 'the first delivery' });

    receiver.socket?.close();
    const missed: string[] = [];
    for (let i = 0; i < 50; i++) {
      const reply = await sender.http.post<{ id: string }>('/v1/messages', {
        content: `away ${i}`,
        thread_id: first.thread_id,
      });
      missed.push(reply.id);
    }
    await receiver.connect(replicaA.url);
    await waitUntil(() => receiver.received.length === 51, { timeoutMs: 5000, what: 'the missed messages' });
    expect(receiver.received.slice(1).map((m) => m.id)).toEqual(missed);
  });
});
