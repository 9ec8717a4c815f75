import {
  adminClient,
  createAspect,
  createTestDatabase,
  inIdOrder,
  missingDeliveries,
  newAdminTokenValue,
  openBackendControl,
  sleep,
  startBrokerProcesses,
  streamOverHttp,
  streamOverSocket,
  type BackendControl,
  type BrokerProcess,
  type TestAspect,
  type TestDatabase,
} from '../testing/index.js';

const LOAD_MS = 5000;

/** QUALITY.md fault scenario 4 (SPEC section 12): pool connections die under load. */
describe("random pg_terminate_backend of the brokers' pool connections under load", () => {
  let db: TestDatabase;
  let control: BackendControl;
  let replicaA: BrokerProcess;
  let replicaB: BrokerProcess;
  const bootstrap = newAdminTokenValue();
  const aspects: TestAspect[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('terminate_backends');
    control = await openBackendControl(db.name);
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
    await control?.close();
    await db?.drop();
  });

  it('loses no acknowledged message and answers nothing but 2xx or 503', async () => {
    const admin = adminClient(replicaA.url, bootstrap);
    const create = (name: string) => createAspect(replicaA.url, admin, name);
    const [receiverA, receiverB, httpA, httpB, socketA, socketB] = await Promise.all([
      create('receiver-a'),
      create('receiver-b'),
      create('http-a'),
      create('http-b'),
      create('socket-a'),
      create('socket-b'),
    ]);
    aspects.push(receiverA, receiverB, httpA, httpB, socketA, socketB);
    await Promise.all([
      receiverA.connect(replicaA.url),
      receiverB.connect(replicaB.url),
      socketA.connect(replicaA.url),
      socketB.connect(replicaB.url),
    ]);

    const to = [receiverA.name, receiverB.name];
    const httpSenders = [streamOverHttp(httpA, replicaA.url, to), streamOverHttp(httpB, replicaB.url, to)];
    const socketSenders = [streamOverSocket(socketA, to), streamOverSocket(socketB, to)];
    let terminated = 0;
    const until = Date.now() + LOAD_MS;
    while (Date.now() < until) {
      const pids = await control.pids('nexus-broker:%');
      const victim = pids[Math.floor(Math.random() * pids.length)];
      if (victim !== undefined) terminated += await control.terminate([victim]);
      await sleep(20 + Math.random() * 30);
    }
    const httpLogs = await Promise.all(httpSenders.map((s) => s.stop()));
    const socketLogs = await Promise.all(socketSenders.map((s) => s.stop()));
    const outcomes = (logs: typeof httpLogs) => new Set(logs.flatMap((log) => [...log.outcomes.keys()]));
    console.log(
      `terminate-backends: ${terminated} backends terminated; HTTP ${JSON.stringify(httpLogs.map((l) => [...l.outcomes]))}; sockets ${JSON.stringify(socketLogs.map((l) => [...l.outcomes]))}`,
    );
    expect(terminated).toBeGreaterThan(0);
    expect([...outcomes(httpLogs)].filter((o) => o !== '201' && o !== '503')).toEqual([]);
    // A socket send is answered `sent` or `error unavailable`; one whose socket dropped is not
    // acknowledged either (none should drop: see the receivers' closes below).
    const allowed = new Set(['sent', 'error:unavailable', 'socket closed', 'not open']);
    expect([...outcomes(socketLogs)].filter((o) => !allowed.has(o))).toEqual([]);

    const accepted = [...httpLogs, ...socketLogs].flatMap((log) => log.accepted);
    expect(accepted.length).toBeGreaterThan(0);
    for (const receiver of [receiverA, receiverB]) {
      expect(await missingDeliveries(receiver, accepted)).toEqual([]);
      expect(inIdOrder(receiver.received)).toBe(true);
      // The database stayed reachable: one lost connection is no reason to close sockets (1013, B.9).
      expect(receiver.closes).toEqual([]);
    }
  });
});
