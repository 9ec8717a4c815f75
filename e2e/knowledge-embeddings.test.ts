/**
 * The runtime half of hybrid search (B.90): an aspect on `openai-compatible` with
 * `provider.embedding_model` embeds what it stores and searches, and the broker keeps the
 * embedding. The vector ranking itself needs pgvector, which this machine lacks (Debian has no
 * package): here the broker detects its absence and searches by text, the API unchanged. The
 * hybrid ranking's end-to-end test runs only where the extension exists (docs/knowledge.md).
 */
import pg from 'pg';
import {
  adminClient,
  createTestDatabase,
  mintAspectToken,
  newAdminTokenValue,
  startAgentProcess,
  startBrokerProcess,
  startOpenAIDouble,
  waitUntil,
  writeHome,
  type AgentProcess,
  type BrokerProcess,
  type OpenAIDouble,
  type TestDatabase,
} from '../testing/index.js';

/** Small, so bodies stay short; broker and runtime must agree on it. */
const DIM = '4';

describe('embeddings from an openai-compatible embedding_model', () => {
  let db: TestDatabase;
  let broker: BrokerProcess;
  let double: OpenAIDouble;
  let agent: AgentProcess | undefined;
  const bootstrap = newAdminTokenValue();

  beforeAll(async () => {
    db = await createTestDatabase('knowledge_embeddings');
    broker = await startBrokerProcess({
      databaseUrl: db.url,
      bootstrapToken: bootstrap,
      env: { NEXUS_EMBEDDING_DIM: DIM, LOG_LEVEL: 'info' },
    });
    double = await startOpenAIDouble();
  });
  afterAll(async () => {
    await agent?.stop();
    await broker?.stop();
    await double?.stop();
    await db?.drop();
  });

  it('are sent with the store and the search, kept with the entry, and the search still answers', async () => {
    double.reply({
      toolCalls: [
        { name: 'knowledge_store', input: { topic: 'tide tables', content: 'High tide at 06:12 today.' } },
      ],
    });
    double.reply({ toolCalls: [{ name: 'knowledge_search', input: { query: 'tide' } }] });
    double.reply({ text: 'Filed and found.' });
    const home = await writeHome({
      'aspect.json': {
        name: 'tidewatcher',
        context_mode: 'thread',
        provider: {
          kind: 'openai-compatible',
          model: 'gpt-4o',
          base_url: double.baseURL,
          credential: null,
          embedding_model: 'text-embedding-3-small',
        },
        tools: ['knowledge_search', 'knowledge_store'],
      },
    });
    const admin = adminClient(broker.url, bootstrap);
    const { token } = await mintAspectToken(admin, 'tidewatcher');
    agent = startAgentProcess({ home, url: broker.url, token, env: { NEXUS_EMBEDDING_DIM: DIM } });
    await agent.waitForLog('"registered"');
    await admin.post('/v1/messages', { content: 'When is high tide?', to: ['tidewatcher'] });
    await waitUntil(() => double.completionRequests().length >= 3, {
      timeoutMs: 30_000,
      what: "tidewatcher's three provider calls",
    });

    // Active retrieval's query, the stored entry, then the search: each embedded once, at the set size.
    const embedded = double
      .embeddingRequests()
      .map((r) => r.body as { model: string; input: string[]; dimensions: number });
    expect(embedded.map((b) => b.input)).toEqual([
      ['when or is or high or tide'],
      ['tide tables\nHigh tide at 06:12 today.'],
      ['tide'],
    ]);
    for (const body of embedded)
      expect(body).toMatchObject({ model: 'text-embedding-3-small', dimensions: 4 });

    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    try {
      const { rows } = await sql.query<{ from_agent: string; embedding: number[] }>(
        'SELECT from_agent, embedding FROM knowledge',
      );
      expect(rows).toEqual([{ from_agent: 'tidewatcher', embedding: expect.any(Array) }]);
      expect(rows[0]?.embedding).toHaveLength(4);
    } finally {
      await sql.end();
    }

    const toolResults = (
      double.completionRequests()[2]?.body as { messages: { role: string; content: string }[] }
    ).messages
      .filter((m) => m.role === 'tool')
      .map((m) => JSON.parse(m.content) as unknown);
    expect(toolResults.at(-1)).toEqual({
      hits: [
        {
          from_agent: 'tidewatcher',
          topic: 'tide tables',
          content: 'High tide at 06:12 today.',
          score: expect.any(Number),
        },
      ],
    });
    expect(broker.logs()).toContain('pgvector not installed: knowledge search is full-text only');
  });
});
