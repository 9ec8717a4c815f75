/**
 * Sockets that lose their right, on a replica that cannot hear it (B.89, B.1, B.5): the hint of a
 * stay-down, a new instance or a deregistration made on replica S never reaches replica R, whose
 * LISTEN connection is cut and kept from coming back, yet R closes the socket within the 1 s bound
 * (asserted with B.5's 3x margin) by its own poll of the roster.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { BrokerClient } from '../client/index.js';
import {
  adminClient,
  createAspect,
  createTestDatabase,
  newAdminTokenValue,
  openRawSocket,
  registerBody,
  startBrokerProcess,
  startPostgresProxy,
  waitUntil,
  type BrokerProcess,
  type PostgresProxy,
  type RawSocket,
  type TestAspect,
  type TestDatabase,
} from '../testing/index.js';

const LISTEN_APP = 'nexus-broker-listen';
const BOUND_MS = 1000;

describe('a socket that loses its right on a replica deaf to NOTIFY', () => {
  let db: TestDatabase;
  let proxy: PostgresProxy;
  let sql: pg.Client;
  let deaf: BrokerProcess;
  let speaking: BrokerProcess;
  let admin: BrokerClient;
  const bootstrap = newAdminTokenValue();
  const sockets: RawSocket[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('socket_rights');
    proxy = await startPostgresProxy();
    const env = { NEXUS_STALE_S: '3600' };
    // R reaches Postgres through the proxy; S directly.
    deaf = await startBrokerProcess({ databaseUrl: proxy.url(db.name), bootstrapToken: bootstrap, env });
    speaking = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap, env });
    admin = adminClient(speaking.url, bootstrap);
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    await waitUntil(() => proxy.open(LISTEN_APP) === 1, { timeoutMs: 10_000, what: "R's LISTEN connection" });
    proxy.cut(LISTEN_APP);
  }, 60_000);
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await sql?.end();
    await Promise.all([deaf?.stop(), speaking?.stop()]);
    await proxy?.close();
    await db?.drop();
  });

  /** An aspect registered through S with its socket open on R. */
  const connectedOnR = async (name: string): Promise<{ aspect: TestAspect; socket: RawSocket }> => {
    const aspect = await createAspect(speaking.url, admin, name);
    const socket = await openRawSocket(deaf.url, aspect.token);
    sockets.push(socket);
    socket.send({ type: 'hello', instance_id: aspect.instanceId });
    await socket.waitFor((f) => f.type === 'welcome', { what: 'welcome on R' });
    return { aspect, socket };
  };

  /** Runs `change` on S, then waits (3x the bound) for R to close the socket with `code`. */
  const expectClosedWithinBound = async (socket: RawSocket, code: number, change: () => Promise<unknown>) => {
    const started = Date.now();
    await change();
    await waitUntil(() => !socket.isOpen, {
      timeoutMs: 3 * BOUND_MS,
      what: `R to close the socket (${code}) within 3x the ${BOUND_MS} ms bound`,
    });
    expect((await socket.closed).code).toBe(code);
    return Date.now() - started;
  };

  it("closes a stayed-down aspect's socket with the shutdown control, then 4403", async () => {
    const { socket } = await connectedOnR('stays-down');
    // It answers the shutdown control as a runtime does (B.81): the broker closes after the answer.
    const answered = socket
      .waitFor((f) => f.type === 'control', { what: 'the shutdown control' })
      .then(() =>
        socket.send({ type: 'control.result', request_id: '0', ok: true, result: { applied: true } }),
      );
    const ms = await expectClosedWithinBound(socket, 4403, () =>
      admin.post('/v1/admin/aspects/stays-down/shutdown', {}),
    );
    await answered;
    expect(socket.frames.find((f) => f.type === 'control')).toMatchObject({ action: 'shutdown' });
    console.log(`socket-rights: stay-down closed on the deaf replica after ${ms} ms (bound ${BOUND_MS} ms)`);
  });

  it("closes a replaced instance's socket with 4409", async () => {
    const { aspect, socket } = await connectedOnR('replaced');
    // The old instance went stale (no heartbeats), so a new one may register (B.3).
    await sql.query(`UPDATE aspects SET status = 'stale' WHERE name = 'replaced'`);
    const ms = await expectClosedWithinBound(socket, 4409, () =>
      aspect.http.post('/v1/aspects/register', registerBody('replaced', randomUUID())),
    );
    console.log(
      `socket-rights: replacement closed on the deaf replica after ${ms} ms (bound ${BOUND_MS} ms)`,
    );
  });

  it("closes a deregistered aspect's socket with 4409, and refuses its hello until it registers again", async () => {
    const { aspect, socket } = await connectedOnR('removed');
    const ms = await expectClosedWithinBound(socket, 4409, () => admin.delete('/v1/admin/aspects/removed'));
    console.log(
      `socket-rights: deregistration closed on the deaf replica after ${ms} ms (bound ${BOUND_MS} ms)`,
    );
    const again = await openRawSocket(deaf.url, aspect.token);
    sockets.push(again);
    again.send({ type: 'hello', instance_id: aspect.instanceId });
    expect((await again.closed).code).toBe(4409);
    // Every hint above was lost: R kept trying to listen and was refused each time.
    expect(proxy.refused(LISTEN_APP)).toBeGreaterThan(0);
    expect(proxy.open(LISTEN_APP)).toBe(0);
  });
});
