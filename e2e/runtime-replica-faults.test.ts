/**
 * QUALITY.md fault 22 (B.110): replicas die under conversation load. Two broker replicas, two
 * scripted aspects (one on each) whose turns take a few hundred milliseconds, a stream of
 * questions, and each replica killed in turn and restarted; at the end every question is answered
 * exactly once. Measured before B.110 was built: 29 of 240 replies lost.
 */
import pg from 'pg';
import { BrokerClient } from '../client/index.js';
import {
  adminClient,
  createAspect,
  createTestDatabase,
  mintAspectToken,
  newAdminTokenValue,
  sleep,
  startAgentProcess,
  startBrokerProcess,
  startBrokerProcesses,
  waitUntil,
  writeHome,
  type AgentProcess,
  type BrokerProcess,
  type TestDatabase,
} from '../testing/index.js';

const QUESTIONS = 40;
const KILLS = 4;

describe('replicas die while aspects converse (fault 22)', () => {
  let db: TestDatabase;
  let replicas: BrokerProcess[] = [];
  const agents: AgentProcess[] = [];
  const bootstrap = newAdminTokenValue();

  beforeAll(async () => {
    db = await createTestDatabase('runtime_replica_faults');
    replicas = await startBrokerProcesses(2, { databaseUrl: db.url, bootstrapToken: bootstrap });
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await Promise.all(replicas.map((r) => r.stop()));
    await db?.drop();
  });

  /** How many answers each question got so far, by question text. */
  const answers = async (): Promise<Map<string, number>> => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ content: string; n: string }>(
        `SELECT content, count(*) AS n FROM messages WHERE sender IN ('alpha', 'beta') GROUP BY content`,
      );
      return new Map(rows.map((r) => [r.content.replace(/^answer: /, ''), Number(r.n)]));
    } finally {
      await client.end();
    }
  };

  it('answers every question exactly once while each replica is killed in turn', async () => {
    const admin = adminClient(replicas[1]?.url as string, bootstrap);
    const script = [
      {
        ttft_ms: 300,
        tool_calls: [{ name: 'send_message', input: { content: 'answer: {{message.content}}' } }],
      },
    ];
    for (const [i, name] of ['alpha', 'beta'].entries()) {
      const { token } = await mintAspectToken(admin, name);
      const home = await writeHome({
        'aspect.json': {
          name,
          context_mode: 'global',
          provider: { kind: 'scripted' },
          tools: ['send_message'],
        },
        'script.json': script,
      });
      const agent = startAgentProcess({ home, url: replicas[i]?.url as string, token });
      agents.push(agent);
      await agent.waitForLog('"registered"');
    }
    // The asker posts through whichever replica answers, with one idempotency key per question.
    const asker = await createAspect(replicas[1]?.url as string, admin, 'asker');
    const ask = async (n: number) => {
      const body = {
        content: `question ${n}`,
        to: [n % 2 === 0 ? 'alpha' : 'beta'],
        idempotency_key: `q-${n}`,
      };
      for (let attempt = 0; ; attempt++) {
        const replica = replicas[attempt % 2] as BrokerProcess;
        try {
          return await new BrokerClient({ url: replica.url, token: asker.token }).post('/v1/messages', body);
        } catch {
          await sleep(100);
        }
      }
    };
    let asked = 0;
    const stream = (async () => {
      for (; asked < QUESTIONS; asked++) {
        await ask(asked);
        await sleep(150);
      }
    })();

    // A replica dies each time a few more questions have been answered, then comes back.
    let answered = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      const target = (answered + 4) as number;
      await waitUntil(async () => (await answers()).size >= target, {
        timeoutMs: 60_000,
        what: `${target} questions answered before kill ${kill + 1}`,
      });
      answered = (await answers()).size;
      const index = kill % 2;
      const dying = replicas[index] as BrokerProcess;
      await dying.kill();
      replicas[index] = await startBrokerProcess({
        databaseUrl: db.url,
        bootstrapToken: bootstrap,
        port: dying.port,
      });
    }
    await stream;
    const final = await waitUntil(
      async () => {
        const counts = await answers();
        return counts.size >= QUESTIONS ? counts : null;
      },
      { timeoutMs: 60_000, what: 'every question answered' },
    );
    await sleep(1000); // room for a repeated answer to show up
    const counts = await answers();
    const retried = agents.map(
      (a) =>
        a
          .logs()
          .split('\n')
          .filter((l) => l.includes('broker call failed')).length,
    );
    console.log(
      `fault 22: ${QUESTIONS} questions, ${KILLS} kills, broker-call retries by aspect ${retried.join(', ')}`,
    );
    expect(final.value.size).toBe(QUESTIONS);
    expect([...counts.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    expect([...counts.keys()].sort()).toEqual(
      Array.from({ length: QUESTIONS }, (_, n) => `question ${n}`).sort(),
    );
  }, 180_000); // about 25 s alone; a loaded machine restarts brokers slowly
});
