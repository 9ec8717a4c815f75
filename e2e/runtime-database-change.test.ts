/**
 * B.45: a home's state belongs to the database whose message ids it recorded. Started against
 * another database (a reset, a new cluster), whose ids start again, the runtime would skip every new
 * message at or below its last processed id; instead it moves `state.json` and `session/` aside,
 * with a warning, and answers.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Message } from '../protocol/index.js';
import {
  adminClient,
  createTestDatabase,
  mintAspectToken,
  newAdminTokenValue,
  startAgentProcess,
  startBrokerProcess,
  waitUntil,
  writeHome,
  type AgentProcess,
  type BrokerProcess,
  type TestDatabase,
} from '../testing/index.js';

describe('a home whose state came from another database (B.45)', () => {
  const databases: TestDatabase[] = [];
  const brokers: BrokerProcess[] = [];
  const agents: AgentProcess[] = [];
  const bootstrap = newAdminTokenValue();

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await Promise.all(brokers.map((b) => b.stop()));
    await Promise.all(databases.map((d) => d.drop()));
  });

  /** A database and a broker on it; `firstId` sets where its message ids start. */
  async function brokerOnNewDatabase(label: string, firstId: number) {
    const db = await createTestDatabase(label);
    databases.push(db);
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    // Test databases are clones of one template: give this one an identity of its own.
    await sql.query(`UPDATE nexus_instance SET id = gen_random_uuid()::text`);
    await sql.query(`SELECT setval('message_ids', $1, false)`, [firstId]);
    await sql.end();
    const broker = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap });
    brokers.push(broker);
    return broker;
  }

  /** Runs the echo aspect of `home` against `broker` until it answers one question. */
  async function askOnce(broker: BrokerProcess, home: string, question: string): Promise<AgentProcess> {
    const admin = adminClient(broker.url, bootstrap);
    const { token } = await mintAspectToken(admin, 'echo');
    const agent = startAgentProcess({ home, url: broker.url, token });
    agents.push(agent);
    await agent.waitForLog('"registered"');
    const sent = await admin.post<{ thread_id: string }>('/v1/messages', { content: question, to: ['echo'] });
    await waitUntil(
      async () =>
        (await admin.get<{ messages: Message[] }>(`/v1/messages?thread_id=${sent.thread_id}`)).messages.find(
          (m) => m.from === 'echo',
        ),
      { timeoutMs: 30_000, what: `echo's answer to "${question}"` },
    );
    return agent;
  }

  it('moves the old state aside with a warning and answers new messages whose ids are lower', async () => {
    const home = await writeHome({
      'aspect.json': {
        name: 'echo',
        context_mode: 'global',
        provider: { kind: 'scripted' },
        tools: ['send_message'],
      },
      'script.json': [
        { tool_calls: [{ name: 'send_message', input: { content: 'echo: {{message.content}}' } }] },
      ],
    });
    const first = await askOnce(await brokerOnNewDatabase('db_change_old', 5000), home, 'first');
    // The answer goes out before its turn is acknowledged: wait for state.json to follow.
    await waitUntil(
      async () =>
        BigInt(
          (JSON.parse(await readFile(path.join(home, 'state.json'), 'utf8')) as { last_processed_id: string })
            .last_processed_id,
        ) >= 5000n,
      { timeoutMs: 30_000, what: 'the first question to be acknowledged in state.json' },
    );
    await first.stop();
    const before = JSON.parse(await readFile(path.join(home, 'state.json'), 'utf8')) as {
      last_processed_id: string;
      nexus_instance: string;
    };
    expect(BigInt(before.last_processed_id)).toBeGreaterThanOrEqual(5000n);

    // The new database numbers from 1: before B.45 this question was skipped as already processed.
    const second = await askOnce(await brokerOnNewDatabase('db_change_new', 1), home, 'second');
    expect(second.logs()).toContain("the broker's database is not the one this home's state came from");
    const after = JSON.parse(await readFile(path.join(home, 'state.json'), 'utf8')) as typeof before;
    expect(after.nexus_instance).not.toBe(before.nexus_instance);
    expect(BigInt(after.last_processed_id)).toBeLessThan(5000n);
    const [discarded] = (await readdir(home)).filter((f) => f.startsWith('discarded-'));
    expect(discarded).toBeDefined();
    const kept = JSON.parse(
      await readFile(path.join(home, discarded as string, 'state.json'), 'utf8'),
    ) as typeof before;
    expect(kept).toEqual(before);
    expect(await readdir(path.join(home, discarded as string, 'session'))).toContain('global.jsonl');
  });

  it('asks for a restart, exit 1 with one line, when the database changes while it runs', async () => {
    const broker = await brokerOnNewDatabase('db_change_live', 1);
    const home = await writeHome({
      'aspect.json': { name: 'echo', context_mode: 'global', provider: { kind: 'scripted' } },
    });
    const admin = adminClient(broker.url, bootstrap);
    const { token } = await mintAspectToken(admin, 'echo');
    const agent = startAgentProcess({ home, url: broker.url, token });
    agents.push(agent);
    // Running means its socket was welcomed (readiness says so): before that, nothing was taken
    // and a change of database is simply adopted at the next registration.
    const ready = (await agent.metricsUrl()).replace(/\/metrics$/, '/readyz');
    await waitUntil(async () => (await fetch(ready)).status === 200, {
      timeoutMs: 30_000,
      what: 'the runtime to be ready (registered, socket welcomed)',
    });
    const sql = new pg.Client({ connectionString: (databases.at(-1) as TestDatabase).url });
    await sql.connect();
    await sql.query(`UPDATE nexus_instance SET id = gen_random_uuid()::text`);
    await sql.end();
    // An admin deregistration closes the socket (B.89): the runtime registers again and meets the change.
    await admin.delete('/v1/admin/aspects/echo');
    expect(await agent.exited()).toBe(1);
    expect(
      agent
        .logs()
        .split('\n')
        .filter((l) => l.startsWith('nexus: ')),
    ).toEqual([
      "nexus: the broker's database changed while this runtime ran; a restart discards the old state (B.45)",
    ]);
  });
});
