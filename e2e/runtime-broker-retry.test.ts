/**
 * B.110: a turn's broker call survives its replica. The replica dies while a turn is thinking;
 * the turn's `send_message` finds it gone, is retried with the same idempotency key, and reaches
 * the replica once it is back: the question is answered, exactly once.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  adminClient,
  createAspect,
  createTestDatabase,
  mintAspectToken,
  newAdminTokenValue,
  sleep,
  startAgentProcess,
  startBrokerProcess,
  waitUntil,
  writeHome,
  type AgentProcess,
  type BrokerProcess,
  type TestDatabase,
} from '../testing/index.js';

describe('a tool call made while its broker replica is away (B.110)', () => {
  let db: TestDatabase;
  let broker: BrokerProcess;
  let agent: AgentProcess | undefined;
  const bootstrap = newAdminTokenValue();
  const admin = () => adminClient(broker.url, bootstrap);

  beforeAll(async () => {
    db = await createTestDatabase('runtime_broker_retry');
    broker = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap });
  });
  afterAll(async () => {
    await agent?.stop();
    await broker?.stop();
    await db?.drop();
  });

  it('is retried with its idempotency key until the replica is back, and the reply is sent once', async () => {
    const { token } = await mintAspectToken(admin(), 'steady');
    const home = await writeHome({
      'aspect.json': {
        name: 'steady',
        context_mode: 'global',
        provider: { kind: 'scripted' },
        tools: ['send_message'],
      },
      'script.json': [
        {
          ttft_ms: 3000,
          tool_calls: [{ name: 'send_message', input: { content: 'answer: {{message.content}}' } }],
        },
      ],
    });
    const peer = await createAspect(broker.url, admin(), 'asker');
    await peer.connect(broker.url);
    agent = startAgentProcess({ home, url: broker.url, token });
    await agent.waitForLog('"registered"');

    await peer.http.post('/v1/messages', { content: 'are you there?', to: ['steady'] });
    const sessionFile = path.join(home, 'session', 'global.jsonl');
    await waitUntil(
      async () => (await readFile(sessionFile, 'utf8').catch(() => '')).includes('"turn.user"'),
      {
        timeoutMs: 20_000,
        what: 'the turn to start',
      },
    );
    const port = broker.port;
    await broker.kill(); // while the provider call runs: the tool call comes after it
    await agent.waitForLog('broker call failed; retrying');
    broker = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap, port });

    await waitUntil(() => peer.received.length > 0, { timeoutMs: 30_000, what: 'the answer' });
    await waitUntil(async () => (await readFile(sessionFile, 'utf8')).includes('custom.turn_end'), {
      timeoutMs: 20_000,
      what: 'the turn to end',
    });
    await sleep(500); // room for a wrongly repeated answer to arrive
    expect(peer.received.map((m) => m.content)).toEqual(['answer: are you there?']);
    const results = (await readFile(sessionFile, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind?: string; payload?: { is_error?: boolean } })
      .filter((e) => e.kind === 'turn.tool_result');
    expect(results.map((r) => r.payload?.is_error)).toEqual([false]);
    peer.socket?.close();
  });
});
