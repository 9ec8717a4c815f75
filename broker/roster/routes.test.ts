import { randomUUID } from 'node:crypto';
import { WireError } from '../../protocol/index.js';
import {
  adminClient,
  createAspect,
  createTestDatabase,
  mintAspectToken,
  registerBody,
  startInProcessBroker,
  waitUntil,
  type TestDatabase,
} from '../../testing/index.js';
import { BrokerClient } from '../../client/index.js';

describe('registration and the live roster', () => {
  let db: TestDatabase;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;

  beforeAll(async () => {
    db = await createTestDatabase('roster');
    broker = await startInProcessBroker({ databaseUrl: db.url, env: { NEXUS_STALE_S: '1' } });
  });
  afterAll(async () => {
    await broker?.stop();
    await db?.drop();
  });

  const admin = () => adminClient(broker.url, broker.adminToken);
  const errorOf = async (p: Promise<unknown>) =>
    p.then(
      () => null,
      (e: unknown) => e as WireError,
    );

  it('lists a registered aspect as live, then stale, then down as heartbeats stop', async () => {
    await createAspect(broker.url, admin(), 'quiet');
    const status = async () => (await admin().get<{ status: string }>('/v1/aspects/quiet')).status;
    expect(await status()).toBe('live');
    await waitUntil(async () => (await status()) === 'stale', { timeoutMs: 6000, what: 'stale' });
    await waitUntil(async () => (await status()) === 'down', { timeoutMs: 9000, what: 'down' });
  });

  it('refuses a second live instance with 409 name_in_use and takes a new one once the first is down', async () => {
    const { token } = await mintAspectToken(admin(), 'single');
    const client = new BrokerClient({ url: broker.url, token });
    const first = randomUUID();
    await client.post('/v1/aspects/register', registerBody('single', first));
    const err = await errorOf(client.post('/v1/aspects/register', registerBody('single', randomUUID())));
    expect(err).toMatchObject({ code: 'name_in_use', status: 409 });
    await client.post('/v1/aspects/deregister', { instance_id: first });
    await client.post('/v1/aspects/register', registerBody('single', randomUUID()));
    const heartbeat = await errorOf(client.post('/v1/aspects/heartbeat', { instance_id: first }));
    expect(heartbeat).toMatchObject({ code: 'conflict', details: { reason: 'instance_replaced' } });
  });

  it('decides identity by the token: registering under another name is identity_mismatch', async () => {
    const { token } = await mintAspectToken(admin(), 'honest');
    const client = new BrokerClient({ url: broker.url, token });
    const err = await errorOf(client.post('/v1/aspects/register', registerBody('impostor', randomUUID())));
    expect(err).toMatchObject({ code: 'identity_mismatch', status: 403 });
    expect(
      (await admin().get<{ aspects: { name: string }[] }>('/v1/aspects')).aspects.map((a) => a.name),
    ).not.toContain('impostor');
  });

  it('keeps a stayed-down aspect out until the stay-down is cleared', async () => {
    const aspect = await createAspect(broker.url, admin(), 'sleepy');
    await admin().post('/v1/admin/aspects/sleepy/shutdown');
    const err = await errorOf(aspect.http.post('/v1/aspects/register', registerBody('sleepy', randomUUID())));
    expect(err).toMatchObject({ code: 'stay_down', status: 403 });
    expect(await admin().get('/v1/aspects/sleepy')).toMatchObject({ status: 'down', stay_down: true });
    await admin().delete('/v1/admin/aspects/sleepy/shutdown');
    await aspect.http.post('/v1/aspects/register', registerBody('sleepy', randomUUID()));
  });
});
