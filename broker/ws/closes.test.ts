/**
 * Why a broker closes an aspect's socket (B.3, B.6, B.9, B.15, B.89), on one replica: a stay-down
 * (4403), a deregistration or a hello for an aspect that is down (4409), and silence for three
 * heartbeat intervals (4408). The same closes across replicas, with the hint lost, are
 * e2e/socket-rights.test.ts.
 */
import pg from 'pg';
import type { BrokerClient } from '../../client/index.js';
import {
  adminClient,
  createAspect,
  createTestDatabase,
  openRawSocket,
  startInProcessBroker,
  waitUntil,
  type RawSocket,
  type TestAspect,
  type TestDatabase,
} from '../../testing/index.js';

describe('socket closes', () => {
  let db: TestDatabase;
  let sql: pg.Client;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;
  /** A replica with NEXUS_HEARTBEAT_S=1, so a silent socket closes after about 3 s. */
  let quick: Awaited<ReturnType<typeof startInProcessBroker>>;
  let admin: BrokerClient;
  const sockets: RawSocket[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('ws_closes');
    broker = await startInProcessBroker({ databaseUrl: db.url, env: { NEXUS_STALE_S: '3600' } });
    quick = await startInProcessBroker({
      databaseUrl: db.url,
      env: { NEXUS_STALE_S: '3600', NEXUS_HEARTBEAT_S: '1', NEXUS_BOOTSTRAP_TOKEN: broker.adminToken },
    });
    admin = adminClient(broker.url, broker.adminToken);
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
  });
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.close();
  });
  afterAll(async () => {
    await sql?.end();
    await quick?.stop();
    await broker?.stop();
    await db?.drop();
  });

  /** A socket of `aspect` on `url`, with hello sent; resolves once open (not once welcomed). */
  const hello = async (aspect: TestAspect, url = broker.url) => {
    const socket = await openRawSocket(url, aspect.token);
    sockets.push(socket);
    socket.send({ type: 'hello', instance_id: aspect.instanceId });
    return socket;
  };
  const welcomed = async (aspect: TestAspect, url = broker.url) => {
    const socket = await hello(aspect, url);
    await socket.waitFor((f) => f.type === 'welcome', { what: 'welcome' });
    return socket;
  };
  const closedWithin = async (socket: RawSocket, timeoutMs: number) => {
    await waitUntil(() => !socket.isOpen, { timeoutMs, what: 'the socket to close' });
    return (await socket.closed).code;
  };

  it('refuses a hello for an aspect that deregistered (down) with 4409, and lets a stale one in (B.89)', async () => {
    const leaver = await createAspect(broker.url, admin, 'leaver');
    await leaver.http.post('/v1/aspects/deregister', { instance_id: leaver.instanceId });
    const refused = await hello(leaver);
    expect((await refused.closed).code).toBe(4409);
    expect(refused.frames.some((f) => f.type === 'welcome')).toBe(false);

    const sleepy = await createAspect(broker.url, admin, 'sleepy');
    await sql.query(`UPDATE aspects SET status = 'stale' WHERE name = 'sleepy'`);
    await (await welcomed(sleepy)).roundTrip();

    // Registering again lets the deregistered one back in.
    await leaver.http.post('/v1/aspects/register', {
      name: 'leaver',
      context_mode: 'global',
      provider: { kind: 'scripted' },
      instance_id: leaver.instanceId,
      pid: 1,
      started_at: new Date().toISOString(),
      runtime_version: 'test',
    });
    await (await welcomed(leaver)).roundTrip();
  });

  it('closes the socket of an aspect an admin deregisters, or that deregisters itself, with 4409 (B.89)', async () => {
    const removed = await createAspect(broker.url, admin, 'removed');
    const socket = await welcomed(removed);
    await admin.delete('/v1/admin/aspects/removed');
    expect(await closedWithin(socket, 3000)).toBe(4409);

    const quitter = await createAspect(broker.url, admin, 'quitter');
    const own = await welcomed(quitter);
    await quitter.http.post('/v1/aspects/deregister', { instance_id: quitter.instanceId });
    expect(await closedWithin(own, 3000)).toBe(4409);
  });

  it('stay-down sends the shutdown control, waits for its answer, then closes 4403; a hello while stayed down is closed 4403 (B.15, B.81)', async () => {
    const doomed = await createAspect(broker.url, admin, 'doomed');
    const socket = await welcomed(doomed);
    await admin.post('/v1/admin/aspects/doomed/shutdown', {});
    const control = await socket.waitFor((f) => f.type === 'control', { what: 'the shutdown control' });
    expect(control).toMatchObject({ request_id: '0', action: 'shutdown', params: { reason: 'stay_down' } });
    // Still open and served until the runtime answers (B.81): the answer reaches the broker.
    await socket.roundTrip();
    socket.send({ type: 'control.result', request_id: '0', ok: true, result: { applied: true } });
    expect(await closedWithin(socket, 3000)).toBe(4403);
    expect(socket.frames.some((f) => f.type === 'error')).toBe(false);
    const again = await hello(doomed);
    expect((await again.closed).code).toBe(4403);
    expect(again.frames.some((f) => f.type === 'welcome')).toBe(false);
  });

  it('closes a stayed-down socket that never answers its shutdown control with 4403 all the same', async () => {
    const mute = await createAspect(broker.url, admin, 'mute');
    const socket = await welcomed(mute);
    await admin.post('/v1/admin/aspects/mute/shutdown', {});
    await socket.waitFor((f) => f.type === 'control', { what: 'the shutdown control' });
    // 3x the broker's 2 s wait for the answer (B.5's margin).
    expect(await closedWithin(socket, 6000)).toBe(4403);
  });

  it('closes a socket silent for three heartbeat intervals with 4408, and keeps one that pings (B.9)', async () => {
    const silent = await createAspect(quick.url, admin, 'silent-one');
    const chatty = await createAspect(quick.url, admin, 'chatty-one');
    const quiet = await welcomed(silent, quick.url);
    expect(quiet.frames[0]).toMatchObject({ type: 'welcome', heartbeat_interval_s: 1 });
    const talking = await welcomed(chatty, quick.url);
    let pinging = true;
    const pings = (async () => {
      while (pinging && talking.isOpen) {
        await talking.roundTrip();
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    const started = Date.now();
    expect(await closedWithin(quiet, 15_000)).toBe(4408);
    console.log(
      `ws-closes: a silent socket closed after ${Date.now() - started} ms (3 x NEXUS_HEARTBEAT_S=1)`,
    );
    pinging = false;
    await pings;
    expect(talking.isOpen).toBe(true);
  });
});
