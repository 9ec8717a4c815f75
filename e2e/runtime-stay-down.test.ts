/**
 * The `shutdown` control (B.81, B.15): the runtime abandons the turn in flight safely (no
 * `turn_end`, nothing acknowledged), takes no new turn, neither deregisters nor exits, keeps
 * retrying registration, and once the stay-down is cleared registers again and answers everything
 * once, the abandoned turn first.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  adminClient,
  createAspect,
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

interface Line {
  kind: string;
  payload: { message_ids?: string[] };
}

describe('stay-down reaches a running runtime (B.81)', () => {
  let db: TestDatabase;
  let broker: BrokerProcess;
  let agent: AgentProcess | undefined;
  const bootstrap = newAdminTokenValue();
  const admin = () => adminClient(broker.url, bootstrap);

  beforeAll(async () => {
    db = await createTestDatabase('runtime_stay_down');
    broker = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap });
  });
  afterAll(async () => {
    await agent?.stop();
    await broker?.stop();
    await db?.drop();
  });

  it('abandons the running turn, takes no new one, stays up, and answers everything once after the clear', async () => {
    const { token } = await mintAspectToken(admin(), 'sleeper');
    const home = await writeHome({
      'aspect.json': {
        name: 'sleeper',
        context_mode: 'global',
        provider: { kind: 'scripted' },
        tools: ['send_message'],
      },
      'script.json': [
        {
          match: 'slow',
          ttft_ms: 5000,
          tool_calls: [{ name: 'send_message', input: { content: 'answer: {{message.content}}' } }],
        },
        { tool_calls: [{ name: 'send_message', input: { content: 'answer: {{message.content}}' } }] },
      ],
    });
    const lines = async (): Promise<Line[]> =>
      (await readFile(path.join(home, 'session', 'global.jsonl'), 'utf8').catch(() => ''))
        .split('\n')
        .filter(Boolean)
        .slice(1)
        .map((l) => JSON.parse(l) as Line);
    const acked = async () =>
      (JSON.parse(await readFile(path.join(home, 'state.json'), 'utf8')) as { last_processed_id: string })
        .last_processed_id;
    const peer = await createAspect(broker.url, admin(), 'waker');
    await peer.connect(broker.url);
    // A 1 s registration cap instead of 30 s, so the clear is seen quickly.
    agent = startAgentProcess({ home, url: broker.url, token, env: { NEXUS_REGISTER_RETRY_CAP_S: '1' } });
    await agent.waitForLog('"registered"');
    const before = await acked();

    const slow = await peer.http.post<{ id: string }>('/v1/messages', {
      content: 'slow question',
      to: ['sleeper'],
    });
    await waitUntil(async () => (await lines()).some((l) => l.kind === 'turn.user'), {
      timeoutMs: 20_000,
      what: 'the slow turn to start',
    });
    await admin().post('/v1/admin/aspects/sleeper/shutdown', {});
    await agent.waitForLog('turn abandoned');
    const held = await peer.http.post<{ id: string; held_for?: string[] }>('/v1/messages', {
      content: 'second question',
      to: ['sleeper'],
    });
    expect(held.held_for).toEqual(['sleeper']);
    // Registration is refused while stayed down, and retried: the process neither exits nor gives up.
    const refusals = () =>
      (agent?.logs() ?? '')
        .split('\n')
        .filter((l) => l.includes('registration failed') && l.includes('stay_down'));
    await waitUntil(() => refusals().length >= 2, { timeoutMs: 20_000, what: 'two refused registrations' });
    expect(agent.child.exitCode).toBeNull();
    expect((await lines()).some((l) => l.kind === 'custom.turn_end')).toBe(false);
    expect(await acked()).toBe(before);
    expect(peer.received).toEqual([]);
    const roster = await admin().get<{ aspects: { name: string; stay_down: boolean }[] }>('/v1/aspects');
    expect(roster.aspects.find((a) => a.name === 'sleeper')?.stay_down).toBe(true);

    await admin().delete('/v1/admin/aspects/sleeper/shutdown');
    await agent.waitForLog('stay-down cleared');
    await waitUntil(() => peer.received.length >= 2, { timeoutMs: 30_000, what: 'both answers' });
    await waitUntil(async () => (await acked()) === held.id, { timeoutMs: 20_000, what: 'the ack of both' });
    expect(peer.received.map((m) => m.content)).toEqual(['answer: slow question', 'answer: second question']);
    const users = (await lines()).filter((l) => l.kind === 'turn.user');
    expect(users.map((u) => u.payload.message_ids)).toEqual([[slow.id], [held.id]]);
    expect((await lines()).filter((l) => l.kind === 'custom.turn_end')).toHaveLength(2);
    peer.socket?.close();
  });
});
