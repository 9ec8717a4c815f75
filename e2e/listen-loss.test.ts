import {
  adminClient,
  createAspect,
  createTestDatabase,
  newAdminTokenValue,
  openBackendControl,
  sleep,
  startBrokerProcess,
  waitUntil,
  type BackendControl,
  type BrokerProcess,
  type TestAspect,
  type TestDatabase,
} from '../testing/index.js';

const LISTEN_APP = 'nexus-broker-listen';

/** QUALITY.md fault scenario 2 (SPEC section 4, B.1): NOTIFY is a hint, the poll is the guarantee. */
describe("a replica's LISTEN connection terminated", () => {
  let db: TestDatabase;
  let control: BackendControl;
  let sending: BrokerProcess;
  let receiving: BrokerProcess;
  /** The sending replica's LISTEN backend: any other one belongs to the receiving replica. */
  let sendingListenPid: number;
  const bootstrap = newAdminTokenValue();
  const aspects: TestAspect[] = [];

  /** The receiving replica's LISTEN backends that are not in `excluded`, once there is one. */
  const receivingListen = async (excluded: Set<number> = new Set()) => {
    const pids = await control.pids(LISTEN_APP);
    const found = pids.filter((pid) => pid !== sendingListenPid && !excluded.has(pid));
    return found.length > 0 ? found : null;
  };

  beforeAll(async () => {
    db = await createTestDatabase('listen_loss');
    control = await openBackendControl(db.name);
    // One after the other, so each replica's LISTEN backend can be told apart by when it appeared.
    sending = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap });
    const first = await waitUntil(async () => (await control.pids(LISTEN_APP))[0], {
      timeoutMs: 10_000,
      what: "the sending replica's LISTEN backend",
    });
    sendingListenPid = first.value;
    receiving = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap });
  });

  afterAll(async () => {
    for (const aspect of aspects) aspect.socket?.close();
    await Promise.all([sending?.stop(), receiving?.stop()]);
    await control?.close();
    await db?.drop();
  });

  it('delivers what was sent through the other replica while it could not listen, and listens again', async () => {
    const admin = adminClient(sending.url, bootstrap);
    const sender = await createAspect(sending.url, admin, 'sender');
    const receiver = await createAspect(receiving.url, admin, 'receiver');
    aspects.push(sender, receiver);
    await receiver.connect(receiving.url);
    const { value: before } = await waitUntil(() => receivingListen(), {
      timeoutMs: 10_000,
      what: "the receiving replica's LISTEN backend",
    });

    // Keep the receiving replica deaf: terminate its LISTEN backend whenever it comes back, while
    // messages go through the other replica and their NOTIFY hints fall into the gap.
    const terminated = new Set<number>();
    let cutting = true;
    const cutter = (async () => {
      while (cutting) {
        const pids = (await receivingListen()) ?? [];
        await control.terminate(pids);
        for (const pid of pids) terminated.add(pid);
        await sleep(5);
      }
    })();
    const accepted: string[] = [];
    let thread: { thread_id?: string } = {};
    for (let i = 0; i < 30; i++) {
      const reply = await sender.http.post<{ id: string; thread_id: string }>('/v1/messages', {
        content: `during the gap ${i}`,
        to: ['receiver'],
        ...thread,
      });
      accepted.push(reply.id);
      thread = { thread_id: reply.thread_id };
    }
    const delivered = () => accepted.every((id) => receiver.received.some((m) => m.id === id));
    await waitUntil(delivered, { timeoutMs: 30_000, what: 'the messages sent during the gap' });
    cutting = false;
    await cutter;
    expect(terminated).toContain(before[0]);

    const { value: after } = await waitUntil(() => receivingListen(terminated), {
      timeoutMs: 10_000,
      what: 'the receiving replica to LISTEN again',
    });
    expect(after).toHaveLength(1);
    console.log(
      `listen-loss: ${terminated.size} LISTEN backends terminated; listening again as pid ${after[0]}`,
    );

    const last = await sender.http.post<{ id: string }>('/v1/messages', { content: 'after', ...thread });
    await waitUntil(() => receiver.received.some((m) => m.id === last.id), {
      timeoutMs: 10_000,
      what: 'a message sent after the LISTEN connection came back',
    });
    expect(receiver.received.map((m) => m.id)).toEqual([...accepted, last.id]);
  });
});
