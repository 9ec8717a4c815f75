/**
 * An aspect's model invokes another aspect's Hand through the `dispatch_hand` tool; a real worker
 * runs it; the `hand_result` comes back to the dispatcher, which takes a turn on it (B.11).
 */
import type { Message } from '../protocol/index.js';
import {
  adminClient,
  createTestDatabase,
  mintAspectToken,
  newAdminTokenValue,
  startAgentProcess,
  startBrokerProcess,
  startWorkerProcess,
  waitUntil,
  writeHome,
  type AgentProcess,
  type BrokerProcess,
  type NexusProcess,
  type TestDatabase,
} from '../testing/index.js';

describe('dispatch_hand from a runtime, run by a worker', () => {
  let db: TestDatabase;
  let broker: BrokerProcess;
  const processes: (AgentProcess | NexusProcess)[] = [];
  const bootstrap = newAdminTokenValue();

  beforeAll(async () => {
    db = await createTestDatabase('hands_runtime');
    broker = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await broker?.stop();
    await db?.drop();
  });

  it('the result reaches the dispatching aspect, which answers with it', async () => {
    const admin = adminClient(broker.url, bootstrap);
    const helperHome = await writeHome({
      'aspect.json': {
        name: 'helper',
        context_mode: 'thread',
        provider: { kind: 'scripted' },
        hands: [{ name: 'work', description: 'works on a request', system_prompt: 'Be brief.' }],
      },
      'script.json': [{ reply: 'worked on: {{message.content}}' }],
      'SOUL.md': 'You are the helper.',
    });
    const plannerHome = await writeHome({
      'aspect.json': { name: 'planner', context_mode: 'thread', provider: { kind: 'scripted' } },
      'script.json': [
        {
          match: 'kind="hand_result"',
          tool_calls: [{ name: 'send_message', input: { content: 'hand said: {{message.content}}' } }],
          then: 'reported',
        },
        {
          match: 'please',
          tool_calls: [
            {
              name: 'dispatch_hand',
              input: { target: 'helper', hand: 'work', content: '{{message.content}}' },
            },
          ],
          then: 'dispatched',
        },
      ],
    });
    for (const [name, home] of [
      ['helper', helperHome],
      ['planner', plannerHome],
    ] as const) {
      const { token } = await mintAspectToken(admin, name);
      const agent = startAgentProcess({ home, url: broker.url, token });
      processes.push(agent);
      await agent.waitForLog('"registered"');
    }
    const worker = await admin.post<{ token: string }>('/v1/admin/tokens', { kind: 'worker', name: 'pool' });
    processes.push(startWorkerProcess({ url: broker.url, token: worker.token }));

    const sent = await admin.post<{ thread_id: string }>('/v1/messages', {
      content: 'please summarise the report',
      to: ['planner'],
    });
    const { value: answer } = await waitUntil(
      async () => {
        const { messages } = await admin.get<{ messages: Message[] }>(
          `/v1/messages?thread_id=${sent.thread_id}`,
        );
        return messages.find((m) => m.kind === 'chat' && m.from === 'planner') ?? null;
      },
      { timeoutMs: 30_000, what: "the planner's report" },
    );
    expect(answer.content).toBe('hand said: worked on: please summarise the report');
    const { messages } = await admin.get<{ messages: Message[] }>(`/v1/messages?thread_id=${sent.thread_id}`);
    expect(messages.map((m) => `${m.kind}:${m.from}`)).toEqual([
      'chat:op:bootstrap',
      'hand:planner',
      'hand_result:helper',
      'chat:planner',
    ]);
    const result = messages.find((m) => m.kind === 'hand_result') as Message;
    expect(result.input).toMatchObject({ status: 'ok', summary: 'worked on: please summarise the report' });
  }, 90_000);
});
