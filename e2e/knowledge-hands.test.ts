/**
 * Hands with knowledge tools (B.14, B.78): a Hand that names `knowledge_search` and
 * `knowledge_store` gets them in its run; the worker calls the broker with the lease it holds, and
 * the broker acts as the Hand's aspect.
 */
import type { DispatchInfo, KnowledgeEntry } from '../protocol/index.js';
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

describe('a Hand using the knowledge tools through a worker', () => {
  let db: TestDatabase;
  let broker: BrokerProcess;
  const processes: (AgentProcess | NexusProcess)[] = [];
  const bootstrap = newAdminTokenValue();
  const admin = () => adminClient(broker.url, bootstrap);

  beforeAll(async () => {
    db = await createTestDatabase('knowledge_hands');
    broker = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap });
    const home = await writeHome({
      'aspect.json': {
        name: 'archivist',
        context_mode: 'thread',
        provider: { kind: 'scripted' },
        hands: [
          {
            name: 'recall',
            description: 'looks things up in the knowledge store, or files them',
            tools: ['knowledge_search', 'knowledge_store'],
          },
        ],
      },
      // The invocation's content picks the step; `then` reports the tool's result.
      'script.json': [
        {
          match: '>file ',
          tool_calls: [
            { name: 'knowledge_store', input: { topic: '{{message.content}}', content: 'filed by a Hand' } },
          ],
          then: 'stored: {{tool_result}}',
        },
        {
          match: '>ask ',
          tool_calls: [{ name: 'send_message', input: { content: 'not a Hand tool' } }],
          then: 'refused: {{tool_result}}',
        },
        {
          tool_calls: [{ name: 'knowledge_search', input: { query: '{{message.content}}' } }],
          then: 'found: {{tool_result}}',
        },
      ],
    });
    const { token } = await mintAspectToken(admin(), 'archivist');
    const agent = startAgentProcess({ home, url: broker.url, token });
    processes.push(agent);
    await agent.waitForLog('"registered"');
    const worker = await admin().post<{ token: string }>('/v1/admin/tokens', {
      kind: 'worker',
      name: 'pool',
    });
    processes.push(startWorkerProcess({ url: broker.url, token: worker.token }));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await broker?.stop();
    await db?.drop();
  });

  /** Dispatches `content` to the recall Hand as the admin and waits for the result's summary. */
  const recall = async (content: string): Promise<string> => {
    const { dispatch_id } = await admin().post<{ dispatch_id: string }>('/v1/hands/dispatch', {
      target: 'archivist',
      hand: 'recall',
      content,
    });
    const { value } = await waitUntil(
      async () => {
        const info = await admin().get<DispatchInfo>(`/v1/hands/dispatches/${dispatch_id}`);
        return info.state === 'done' ? info : null;
      },
      { timeoutMs: 30_000, what: `the dispatch of "${content}" to finish` },
    );
    expect(value.result).toMatchObject({ status: 'ok' });
    return value.result?.summary ?? '';
  };

  it("searches with knowledge_search: shared entries and the Hand's aspect's own private ones", async () => {
    await admin().post('/v1/knowledge', {
      topic: 'release train',
      content: 'The release train leaves every Tuesday at 10:00.',
      shared: true,
    });
    const summary = await recall('release train');
    expect(summary.startsWith('found: ')).toBe(true);
    const found = JSON.parse(summary.slice('found: '.length)) as {
      hits: { topic: string; content: string }[];
    };
    expect(found.hits).toEqual([
      {
        from_agent: expect.stringMatching(/^op:/),
        topic: 'release train',
        content: 'The release train leaves every Tuesday at 10:00.',
        score: expect.any(Number),
      },
    ]);
  }, 60_000);

  it('stores with knowledge_store under the aspect that offers the Hand', async () => {
    const summary = await recall('file the blue door');
    expect(summary).toMatch(/^stored: \{"id":"\d+"\}$/);
    const { entries } = await admin().get<{ entries: KnowledgeEntry[] }>(
      '/v1/knowledge?from_agent=archivist',
    );
    expect(entries).toEqual([
      expect.objectContaining({
        from_agent: 'archivist',
        topic: 'file the blue door',
        content: 'filed by a Hand',
        shared: false,
      }),
    ]);
    // Private to archivist, so a later run of its Hand finds it.
    expect(await recall('blue door')).toContain('"topic":"file the blue door"');
  }, 60_000);

  it('answers a tool the Hand does not name with an error result', async () => {
    const summary = await recall('ask someone');
    expect(summary).toBe(
      'refused: unknown tool "send_message"; available: knowledge_search, knowledge_store',
    );
  }, 60_000);
});
