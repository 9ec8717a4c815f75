/**
 * Issue 10, test 3 (QUALITY faults 7 and 8, SPEC B.27, B.40, B.5): alarms on three broker
 * replicas while the one holding the alarm duty is killed. Every firing happens exactly once, and
 * another replica takes the duty within 2 s (asserted with a 3× margin, the measured value logged).
 * Periodic alarms use a 1 s period (NEXUS_ALARM_MIN_EVERY_S, a test-only setting: docs/team.md).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { BrokerClient } from '../client/index.js';
import type { AlarmReply } from '../protocol/index.js';
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

interface Duties {
  duties: { duty: string; holder: string | null }[];
}

const ONE_SHOT_ALARMS = 16;
const SPACING_MS = 400;

describe('alarms on three replicas, the duty holder killed', () => {
  let db: TestDatabase;
  let replicas: BrokerProcess[] = [];
  let sql: pg.Client;
  const bootstrap = newAdminTokenValue();

  beforeAll(async () => {
    db = await createTestDatabase('alarms_replicas');
    replicas = await startBrokerProcesses(3, {
      databaseUrl: db.url,
      bootstrapToken: bootstrap,
      env: { NEXUS_ALARM_MIN_EVERY_S: '1', NEXUS_STALE_S: '3600' },
    });
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
  }, 90_000);
  afterAll(async () => {
    await sql?.end();
    await Promise.all(replicas.map((r) => r.stop()));
    await db?.drop();
  });

  const holderOf = async (url: string) => {
    const { duties } = await adminClient(url, bootstrap).get<Duties>('/v1/admin/duties');
    return duties.find((d) => d.duty === 'alarms')?.holder ?? null;
  };
  const firedOneShots = async (ids: string[]) =>
    Number(
      (
        await sql.query('SELECT count(*) AS n FROM alarms WHERE id = ANY($1::bigint[]) AND next_at IS NULL', [
          ids,
        ])
      ).rows[0].n,
    );

  it('fires each alarm exactly once, and a survivor takes the duty within 2 s', async () => {
    const [first] = replicas as [BrokerProcess];
    const admin = adminClient(first.url, bootstrap);
    const { token } = await mintAspectToken(admin, 'sleeper');
    await new BrokerClient({ url: first.url, token }).post(
      '/v1/aspects/register',
      registerBody('sleeper', randomUUID()),
    );
    // Alarms created through every replica: each is one database row, whoever took the request.
    const clients = replicas.map((r) => new BrokerClient({ url: r.url, token }));
    const start = Date.now() + 3000;
    const oneShots: string[] = [];
    for (let i = 0; i < ONE_SHOT_ALARMS; i++) {
      const reply = await (clients[i % clients.length] as BrokerClient).post<AlarmReply>('/v1/alarms', {
        to: ['sleeper'],
        content: `one-shot ${i}`,
        at: new Date(start + i * SPACING_MS).toISOString(),
      });
      oneShots.push(reply.id);
    }
    const periodic: string[] = [];
    for (const client of clients.slice(0, 2))
      periodic.push(
        (await client.post<AlarmReply>('/v1/alarms', { to: ['sleeper'], content: 'tick', every_s: 1 })).id,
      );

    // Kill the holder once a few one-shot alarms have fired and more are due.
    await waitUntil(async () => (await firedOneShots(oneShots)) >= 4, {
      timeoutMs: 30_000,
      what: 'the first one-shot alarms to fire',
    });
    const holderId = await holderOf(first.url);
    const holder = replicas.find((r) => r.replicaId === holderId);
    const survivors = replicas.filter((r) => r !== holder);
    if (!holder) throw new Error(`the alarm duty holder ${holderId} is none of the replicas`);
    const killedAt = Date.now();
    await holder.kill();
    const survivorIds = survivors.map((r) => r.replicaId);
    const { elapsedMs } = await waitUntil(
      async () => survivorIds.includes((await holderOf((survivors[0] as BrokerProcess).url)) ?? ''),
      {
        timeoutMs: 6000,
        intervalMs: 50,
        what: 'a survivor to take the alarm duty (bound 2 s, with a 3x margin)',
      },
    );
    console.log(
      `alarms-replicas: a survivor took the alarm duty ${Date.now() - killedAt} ms after the SIGKILL (bound 2 s; poll ${elapsedMs} ms)`,
    );

    // Everything due fires; the periodic alarms keep firing after the takeover.
    await waitUntil(async () => (await firedOneShots(oneShots)) === ONE_SHOT_ALARMS, {
      timeoutMs: 30_000,
      what: 'every one-shot alarm to fire',
    });
    const afterKill = new Date(killedAt + 1000).toISOString();
    await waitUntil(
      async () =>
        Number(
          (
            await sql.query(
              'SELECT count(DISTINCT alarm_id) AS n FROM alarm_firings WHERE alarm_id = ANY($1::bigint[]) AND due_at > $2',
              [periodic, afterKill],
            )
          ).rows[0].n,
        ) === periodic.length,
      { timeoutMs: 30_000, what: 'the periodic alarms to fire after the takeover' },
    );

    // One statement, one snapshot: firings, their messages, the recipient's mailbox, duplicates.
    const { rows } = await sql.query<Record<string, string>>(
      `SELECT (SELECT count(*) FROM alarm_firings)::text AS firings,
              (SELECT count(*) FROM messages WHERE input ? 'alarm')::text AS messages,
              (SELECT count(*) FROM message_recipients mr JOIN messages m ON m.id = mr.message_id
                WHERE mr.recipient = 'sleeper' AND m.input ? 'alarm')::text AS delivered,
              (SELECT count(*) FROM alarm_firings WHERE message_id IS NULL OR error IS NOT NULL)::text AS refused,
              (SELECT count(*) FROM (SELECT 1 FROM messages WHERE input ? 'alarm'
                                      GROUP BY input->'alarm'->>'id', input->'alarm'->>'due_at' HAVING count(*) > 1) d)::text
                AS duplicates`,
    );
    const counts = rows[0] as Record<string, string>;
    console.log(`alarms-replicas: ${counts.firings} firings, ${counts.messages} messages`);
    expect(counts).toEqual({
      firings: counts.messages,
      messages: counts.messages,
      delivered: counts.messages,
      refused: '0',
      duplicates: '0',
    });
    const perOneShot = await sql.query<{ n: string }>(
      `SELECT count(m.id)::text AS n FROM alarms a
         LEFT JOIN messages m ON m.input->'alarm'->>'id' = a.id::text
        WHERE a.id = ANY($1::bigint[]) GROUP BY a.id ORDER BY a.id`,
      [oneShots],
    );
    expect(perOneShot.rows.map((r) => r.n)).toEqual(oneShots.map(() => '1'));
  }, 180_000);
});
