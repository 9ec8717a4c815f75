import {
  adminClient,
  createAspect,
  createTestDatabase,
  inIdOrder,
  missingDeliveries,
  newAdminTokenValue,
  startBrokerProcesses,
  streamOverSocket,
  waitUntil,
  type BrokerProcess,
  type TestAspect,
  type TestDatabase,
} from '../testing/index.js';

/** QUALITY.md fault scenario 1 (SPEC section 12, B.5): a replica dies while senders stream. */
describe('SIGKILL of one of two broker replicas while senders stream', () => {
  let db: TestDatabase;
  let replicaA: BrokerProcess;
  let replicaB: BrokerProcess;
  const bootstrap = newAdminTokenValue();
  const aspects: TestAspect[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('replica_sigkill');
    // Senders stream as fast as the broker answers: the per-token rate limit is not under test.
    const env = { NEXUS_RATE_LIMITS: 'off' };
    [replicaA, replicaB] = (await startBrokerProcesses(2, {
      databaseUrl: db.url,
      bootstrapToken: bootstrap,
      env,
    })) as [BrokerProcess, BrokerProcess];
  });

  afterAll(async () => {
    for (const aspect of aspects) aspect.socket?.close();
    await Promise.all([replicaA?.stop(), replicaB?.stop()]);
    await db?.drop();
  });

  it('delivers every message that got `sent` to every recipient in id order, and its clients reconnect to the survivor within 2 s', async () => {
    const admin = adminClient(replicaB.url, bootstrap);
    const create = (name: string) => createAspect(replicaB.url, admin, name);
    const receivers = await Promise.all([create('receiver-a'), create('receiver-b')]);
    const senders = await Promise.all([
      create('sender-1'),
      create('sender-2'),
      create('sender-3'),
      create('sender-4'),
    ]);
    aspects.push(...receivers, ...senders);
    // Half of the clients on each replica: a receiver and two senders on the one to be killed.
    const onA = [receivers[0], senders[0], senders[1]];
    for (const aspect of aspects) await aspect.connect(onA.includes(aspect) ? replicaA.url : replicaB.url);

    const streams = senders.map((sender) => streamOverSocket(sender, ['receiver-a', 'receiver-b']));
    const acceptedSoFar = () => streams.map((s) => s.log.accepted.length);
    await waitUntil(() => acceptedSoFar().every((n) => n >= 30), {
      timeoutMs: 30_000,
      what: 'every sender to have 30 messages accepted before the kill',
    });

    const killedAt = Date.now();
    await replicaA.kill();
    // SocketClient retries only its own URL: like a load balancer, the test sends the clients of
    // the dead replica to the survivor as soon as they notice the drop.
    let reconnected = 0;
    for (const aspect of onA) {
      void waitUntil(() => !aspect.socket?.isOpen, {
        timeoutMs: 6000,
        what: `${aspect.name} to see the drop`,
      })
        .then(() => aspect.connect(replicaB.url))
        .then(() => reconnected++)
        .catch(() => undefined); // the deadline below reports it
    }
    await waitUntil(() => reconnected === onA.length, {
      timeoutMs: 6000,
      what: 'the clients of the killed replica to reconnect to the survivor',
    });
    const reconnectMs = Date.now() - killedAt;
    console.log(`replica-sigkill: clients reconnected ${reconnectMs} ms after the SIGKILL (bound 2 s)`);

    const atReconnect = acceptedSoFar();
    await waitUntil(() => acceptedSoFar().every((n, i) => n >= (atReconnect[i] as number) + 30), {
      timeoutMs: 30_000,
      what: 'every sender to have 30 more messages accepted after the kill',
    }).catch((err: Error) => {
      throw new Error(`${err.message}; outcomes: ${JSON.stringify(streams.map((s) => [...s.log.outcomes]))}`);
    });
    const logs = await Promise.all(streams.map((s) => s.stop()));
    const accepted = logs.flatMap((log) => log.accepted);

    for (const receiver of receivers) {
      expect(await missingDeliveries(receiver, accepted)).toEqual([]);
      expect(inIdOrder(receiver.received)).toBe(true);
      console.log(
        `replica-sigkill: ${receiver.name} got ${receiver.received.length} messages (${accepted.length} acknowledged), ${receiver.duplicates} duplicates dropped`,
      );
    }
  });
});
