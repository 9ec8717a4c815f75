import { randomUUID } from 'node:crypto';
import {
  adminClient,
  createTestDatabase,
  mintAspectToken,
  newAdminTokenValue,
  registerBody,
  startBrokerProcesses,
  waitUntil,
  type BrokerProcess,
  type TestDatabase,
} from '../testing/index.js';
import { BrokerClient } from '../client/index.js';

interface Duties {
  duties: { duty: string; holder: string | null }[];
}

/** QUALITY.md fault scenario 8 (SPEC B.40, B.5): the replica holding a duty dies. */
describe('the replica holding the staleness duty killed', () => {
  let db: TestDatabase;
  let replicas: BrokerProcess[] = [];
  const bootstrap = newAdminTokenValue();

  beforeAll(async () => {
    db = await createTestDatabase('duty_takeover');
    // A short stale bound, so the survivor's sweep is seen doing its work.
    const env = { NEXUS_STALE_S: '1' };
    replicas = await startBrokerProcesses(2, { databaseUrl: db.url, bootstrapToken: bootstrap, env });
  });

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await db?.drop();
  });

  it('is taken over by the other replica within 2 s, which then runs it', async () => {
    const holderOf = async (url: string, duty: string) => {
      const { duties } = await adminClient(url, bootstrap).get<Duties>('/v1/admin/duties');
      return duties.find((d) => d.duty === duty)?.holder ?? null;
    };
    const { value: holderId } = await waitUntil(() => holderOf(replicas[0]!.url, 'staleness'), {
      timeoutMs: 10_000,
      what: 'a replica to hold the staleness duty',
    });
    const holder = replicas.find((r) => r.replicaId === holderId);
    const survivor = replicas.find((r) => r !== holder);
    if (!holder || !survivor) throw new Error(`duty holder ${holderId} is neither replica`);

    const killedAt = Date.now();
    await holder.kill();
    await waitUntil(async () => (await holderOf(survivor.url, 'staleness')) === survivor.replicaId, {
      timeoutMs: 6000,
      what: 'the survivor to take the staleness duty (bound 2 s, with a 3x margin)',
    });
    console.log(
      `duty-takeover: the survivor took the staleness duty ${Date.now() - killedAt} ms after the SIGKILL (bound 2 s)`,
    );

    // The survivor runs the sweep: an aspect that never heartbeats goes stale.
    const admin = adminClient(survivor.url, bootstrap);
    const { token } = await mintAspectToken(admin, 'silent');
    const silent = new BrokerClient({ url: survivor.url, token });
    await silent.post('/v1/aspects/register', registerBody('silent', randomUUID()));
    await waitUntil(
      async () => (await admin.get<{ status: string }>('/v1/aspects/silent')).status !== 'live',
      { timeoutMs: 10_000, what: 'the survivor to mark a silent aspect stale' },
    );
  });
});
