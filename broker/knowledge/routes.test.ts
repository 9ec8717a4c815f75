import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { BrokerClient } from '../../client/index.js';
import type {
  AuditEntry,
  ClaimedDispatch,
  KnowledgeEntry,
  KnowledgeHit,
  WireError,
} from '../../protocol/index.js';
import {
  adminClient,
  createTestDatabase,
  mintAspectToken,
  registerBody,
  startInProcessBroker,
  waitUntil,
  type TestDatabase,
} from '../../testing/index.js';

const errorOf = async (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as WireError,
  );

/** A small dimension keeps embedding bodies short; the store checks every embedding against it. */
const DIM = 4;

describe('the knowledge store', () => {
  let db: TestDatabase;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;
  let sql: pg.Client;
  let alice: BrokerClient;
  let bob: BrokerClient;
  let worker: BrokerClient;

  const admin = () => adminClient(broker.url, broker.adminToken);
  const register = async (name: string, extra: Record<string, unknown> = {}) => {
    const { token } = await mintAspectToken(admin(), name);
    const client = new BrokerClient({ url: broker.url, token });
    await client.post('/v1/aspects/register', registerBody(name, randomUUID(), extra));
    return client;
  };
  const store = (client: BrokerClient, body: Record<string, unknown>) =>
    client.call<{ id: string }>('POST', '/v1/knowledge', body);
  const search = async (client: BrokerClient, query: Record<string, string>) =>
    (await client.get<{ hits: KnowledgeHit[] }>(`/v1/knowledge/search?${new URLSearchParams(query)}`)).hits;
  const topics = (hits: { topic: string }[]) => hits.map((h) => h.topic).sort();
  const rows = async () =>
    (await sql.query('SELECT id, from_agent, topic, content, shared, updated_at FROM knowledge ORDER BY id'))
      .rows;

  beforeAll(async () => {
    db = await createTestDatabase('knowledge');
    broker = await startInProcessBroker({
      databaseUrl: db.url,
      env: { NEXUS_EMBEDDING_DIM: String(DIM), NEXUS_RATE_LIMITS: 'off' },
    });
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    alice = await register('alice');
    bob = await register('bob');
    await register('helper', {
      hands: [{ name: 'recall', description: 'recalls', tools: ['knowledge_search'] }],
    });
    const { token } = await admin().post<{ token: string }>('/v1/admin/tokens', {
      kind: 'worker',
      name: 'pool',
    });
    worker = new BrokerClient({ url: broker.url, token });
  });
  afterAll(async () => {
    await sql?.end();
    await broker?.stop();
    await db?.drop();
  });
  beforeEach(async () => {
    await sql.query('DELETE FROM knowledge');
  });

  it('stores with 201 and replaces the same topic in place with 200: same id, new content', async () => {
    const first = await store(alice, { topic: 'release day', content: 'We release on Tuesdays.' });
    expect(first.status).toBe(201);
    expect(first.body.id).toMatch(/^[1-9][0-9]*$/);

    const second = await store(alice, { topic: 'release day', content: 'We release on Thursdays now.' });
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    expect(await rows()).toEqual([
      expect.objectContaining({
        from_agent: 'alice',
        topic: 'release day',
        content: 'We release on Thursdays now.',
      }),
    ]);
    expect(await search(alice, { q: 'tuesdays' })).toEqual([]);
    expect(topics(await search(alice, { q: 'thursdays' }))).toEqual(['release day']);

    // The same topic from another author is another entry.
    expect((await store(bob, { topic: 'release day', content: 'Fridays, says bob.' })).status).toBe(201);
    expect((await rows()).map((r) => r.from_agent)).toEqual(['alice', 'bob']);
  });

  it('keeps shared as it was when an update does not say it', async () => {
    await store(alice, { topic: 'oncall', content: 'Dana is on call.', shared: true });
    await store(alice, { topic: 'oncall', content: 'Sam is on call.' });
    expect((await rows())[0]).toMatchObject({ shared: true, content: 'Sam is on call.' });
    await store(alice, { topic: 'oncall', content: 'Sam is on call.', shared: false });
    expect((await rows())[0]).toMatchObject({ shared: false });
  });

  it('ranks the entry that is most about the query first, with scores in [0, 1) descending', async () => {
    await store(alice, {
      topic: 'helm rollbacks',
      content: 'To roll back a release run helm rollback RELEASE REVISION; helm keeps the release history.',
    });
    await store(alice, { topic: 'team lunch', content: 'Lunch is at noon; someone once brought a helm.' });
    await store(alice, {
      topic: 'deploys',
      content: 'Deploys go out through the pipeline, which calls helm.',
    });
    await store(alice, { topic: 'weather', content: 'It rains in Bergen.' });

    const hits = await search(alice, { q: 'helm rollback' });
    expect(hits.map((h) => h.topic)).toEqual(['helm rollbacks']);

    const ranked = await search(alice, { q: 'helm' });
    expect(ranked[0]?.topic).toBe('helm rollbacks');
    expect(topics(ranked)).toEqual(['deploys', 'helm rollbacks', 'team lunch']);
    for (const hit of ranked) expect(hit.score).toBeGreaterThan(0);
    for (const hit of ranked) expect(hit.score).toBeLessThan(1);
    const scores = ranked.map((h) => h.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(ranked[0]).toEqual({
      id: expect.stringMatching(/^\d+$/),
      from_agent: 'alice',
      topic: 'helm rollbacks',
      content: expect.stringContaining('helm rollback RELEASE'),
      shared: false,
      score: expect.any(Number),
    });

    // The body form is the same search; top_k bounds it; "or" widens it (what active retrieval sends).
    const body = await alice.post<{ hits: KnowledgeHit[] }>('/v1/knowledge/search', { q: 'helm', top_k: 1 });
    expect(body.hits.map((h) => h.topic)).toEqual(['helm rollbacks']);
    expect(topics(await search(alice, { q: 'rollback or bergen' }))).toEqual(['helm rollbacks', 'weather']);
  });

  it('respects scope: private entries only for their author and admins, peer:NAME for NAME shared ones', async () => {
    await store(alice, { topic: 'alice private', content: 'kiwi notes' });
    await store(alice, { topic: 'alice shared', content: 'kiwi facts', shared: true });
    await store(bob, { topic: 'bob private', content: 'kiwi diary' });
    await store(bob, { topic: 'bob shared', content: 'kiwi recipes', shared: true });
    await store(admin(), { topic: 'op private', content: 'kiwi budget' });
    const q = 'kiwi';

    expect(topics(await search(bob, { q }))).toEqual(['alice shared', 'bob private', 'bob shared']);
    expect(topics(await search(bob, { q, scope: 'own' }))).toEqual(['bob private', 'bob shared']);
    expect(topics(await search(bob, { q, scope: 'shared' }))).toEqual(['alice shared', 'bob shared']);
    expect(topics(await search(bob, { q, scope: 'peer:alice' }))).toEqual(['alice shared']);
    expect(topics(await search(bob, { q, scope: 'own,peer:alice' }))).toEqual([
      'alice shared',
      'bob private',
      'bob shared',
    ]);
    expect(topics(await search(alice, { q, scope: 'peer:bob' }))).toEqual(['bob shared']);
    expect(await search(alice, { q, scope: 'peer:nobody' })).toEqual([]);

    // An admin sees everything by default; entries it stores are op:NAME's (B.90).
    const all = await search(admin(), { q, top_k: '50' });
    expect(topics(all)).toEqual(['alice private', 'alice shared', 'bob private', 'bob shared', 'op private']);
    const opEntry = all.find((h) => h.topic === 'op private');
    expect(opEntry?.from_agent).toMatch(/^op:[a-z0-9-]+$/);
    expect(topics(await search(admin(), { q, scope: 'own' }))).toEqual(['op private']);
    expect(topics(await search(admin(), { q, scope: `peer:${opEntry?.from_agent}` }))).toEqual([]);
    expect(topics(await search(bob, { q, scope: `peer:${opEntry?.from_agent}` }))).toEqual([]);

    // Listing (B.60) applies the same visibility.
    const list = async (client: BrokerClient, query = '') =>
      (await client.get<{ entries: KnowledgeEntry[] }>(`/v1/knowledge${query}`)).entries;
    expect(topics(await list(bob))).toEqual(['alice shared', 'bob private', 'bob shared']);
    expect(topics(await list(bob, '?from_agent=alice'))).toEqual(['alice shared']);
    expect(topics(await list(admin(), '?from_agent=alice'))).toEqual(['alice private', 'alice shared']);
    const everything = await list(admin());
    expect(everything).toHaveLength(5);
    expect(everything.map((e) => BigInt(e.id))).toEqual([...everything.map((e) => BigInt(e.id))].sort());
    const page = await list(admin(), `?after=${everything[1]?.id}&limit=2`);
    expect(page.map((e) => e.id)).toEqual(everything.slice(2, 4).map((e) => e.id));
    expect(page[0]).toEqual({
      id: expect.any(String),
      from_agent: expect.any(String),
      topic: expect.any(String),
      content: expect.any(String),
      shared: expect.any(Boolean),
      created_at: expect.stringMatching(/Z$/),
      updated_at: expect.stringMatching(/Z$/),
    });
  });

  it('lets only the author or an admin delete; anyone else gets 404 and the entry stays', async () => {
    const mine = (await store(alice, { topic: 'mine', content: 'alice owns this', shared: true })).body.id;
    const bobs = (await store(bob, { topic: 'bobs', content: 'bob owns this' })).body.id;

    const refused = await errorOf(bob.delete(`/v1/knowledge/${mine}`));
    expect(refused).toMatchObject({ status: 404, code: 'not_found' });
    expect((await rows()).map((r) => r.topic)).toEqual(['mine', 'bobs']);
    expect(await errorOf(alice.delete('/v1/knowledge/999999999'))).toMatchObject({ status: 404 });

    expect((await alice.call('DELETE', `/v1/knowledge/${mine}`)).status).toBe(204);
    expect((await admin().call('DELETE', `/v1/knowledge/${bobs}`)).status).toBe(204);
    expect(await rows()).toEqual([]);
    // A denial's audit row is written after the refusal is answered: wait until both rows are in.
    const { value: audit } = await waitUntil(
      async () => {
        const read = await admin().get<{ entries: AuditEntry[] }>('/v1/audit?action=knowledge.delete');
        return read.entries.some((e) => e.outcome === 'denied') ? read : null;
      },
      { timeoutMs: 10_000, what: "bob's refused delete in the audit log" },
    );
    expect(audit.entries.map((e) => [e.actor, e.outcome, e.target])).toEqual(
      expect.arrayContaining([
        ['aspect:bob', 'denied', mine],
        [expect.stringMatching(/^op:/), 'allowed', bobs],
      ]),
    );
  });

  it('lets a worker store and search as the target of a dispatch it holds, and nothing else', async () => {
    await store(admin(), { topic: 'recall me', content: 'The answer is forty-two.', shared: true });
    const dispatched = await alice.post<{ dispatch_id: string }>('/v1/hands/dispatch', {
      target: 'helper',
      hand: 'recall',
      content: 'what is the answer?',
    });
    const claim = await worker.call<{ dispatch: ClaimedDispatch }>('POST', '/v1/workers/claim', {
      worker_id: 'w1',
    });
    expect(claim.body.dispatch.id).toBe(dispatched.dispatch_id);
    const lease = {
      dispatch_id: dispatched.dispatch_id,
      worker_id: 'w1',
      attempt: claim.body.dispatch.attempt,
    };

    const found = await worker.post<{ hits: KnowledgeHit[] }>('/v1/knowledge/search', {
      q: 'answer',
      ...lease,
    });
    expect(found.hits.map((h) => h.topic)).toEqual(['recall me']);
    const stored = await worker.call<{ id: string }>('POST', '/v1/knowledge', {
      topic: 'recalled',
      content: 'helper recalled the answer',
      ...lease,
    });
    expect(stored.status).toBe(201);
    expect((await rows()).find((r) => r.topic === 'recalled')?.from_agent).toBe('helper');

    const refusals = [
      () => worker.post('/v1/knowledge/search', { q: 'answer' }),
      () => worker.post('/v1/knowledge/search', { q: 'answer', ...lease, worker_id: 'w2' }),
      () => worker.post('/v1/knowledge/search', { q: 'answer', ...lease, attempt: lease.attempt + 1 }),
      () => worker.post('/v1/knowledge', { topic: 't', content: 'c', ...lease, dispatch_id: '999999' }),
      () => worker.get('/v1/knowledge/search?q=answer'),
      () => worker.get('/v1/knowledge'),
    ];
    for (const refused of refusals)
      expect(await errorOf(refused())).toMatchObject({ status: 403, code: 'forbidden' });
    expect((await rows()).map((r) => r.topic).sort()).toEqual(['recall me', 'recalled']);

    await worker.post(`/v1/workers/dispatches/${lease.dispatch_id}/complete`, {
      worker_id: 'w1',
      attempt: lease.attempt,
      status: 'ok',
      summary: 'done',
    });
    // The lease is over: the worker acts for no one.
    expect(await errorOf(worker.post('/v1/knowledge/search', { q: 'answer', ...lease }))).toMatchObject({
      status: 403,
    });
  });

  it('stores embeddings of NEXUS_EMBEDDING_DIM numbers and, without pgvector, searches by text alone', async () => {
    const embedding = [0.1, 0.2, 0.3, 0.4];
    expect(
      (await store(alice, { topic: 'vectors', content: 'pgvector adds a vector type', embedding })).status,
    ).toBe(201);
    const { rows: stored } = await sql.query<{ embedding: number[] }>('SELECT embedding FROM knowledge');
    expect(stored[0]?.embedding.map((x) => Math.round(x * 10) / 10)).toEqual(embedding);
    const hits = await alice.post<{ hits: KnowledgeHit[] }>('/v1/knowledge/search', {
      q: 'vector',
      embedding,
    });
    expect(hits.hits.map((h) => h.topic)).toEqual(['vectors']);
    // A new content without an embedding drops the old one: it no longer describes the entry.
    await store(alice, { topic: 'vectors', content: 'changed' });
    expect((await sql.query('SELECT embedding FROM knowledge')).rows[0].embedding).toBeNull();
  });

  describe('refuses bad input with the field named, and changes nothing', () => {
    const long = (n: number) => 'x'.repeat(n);
    const cases: [string, 'POST' | 'GET' | 'DELETE', string, unknown, string][] = [
      ['no topic', 'POST', '/v1/knowledge', { content: 'c' }, 'topic: '],
      [
        'a blank topic',
        'POST',
        '/v1/knowledge',
        { topic: '  ', content: 'c' },
        'topic: must not be empty or blank',
      ],
      [
        'a topic of 257 characters',
        'POST',
        '/v1/knowledge',
        { topic: long(257), content: 'c' },
        'topic: must be at most 256 characters',
      ],
      [
        'content over 256 KiB',
        'POST',
        '/v1/knowledge',
        { topic: 't', content: long(256 * 1024 + 1) },
        'content: must be at most 256 KiB of UTF-8',
      ],
      [
        'empty content',
        'POST',
        '/v1/knowledge',
        { topic: 't', content: '' },
        'content: must not be empty or blank',
      ],
      [
        'shared not a boolean',
        'POST',
        '/v1/knowledge',
        { topic: 't', content: 'c', shared: 'yes' },
        'shared: ',
      ],
      [
        'an unknown field',
        'POST',
        '/v1/knowledge',
        { topic: 't', content: 'c', tags: [] },
        'tags: is not a known field',
      ],
      [
        'an embedding of the wrong dimension',
        'POST',
        '/v1/knowledge',
        { topic: 't', content: 'c', embedding: [1, 2] },
        'embedding: must have 4 numbers',
      ],
      [
        'an embedding of strings',
        'POST',
        '/v1/knowledge',
        { topic: 't', content: 'c', embedding: ['a', 1, 2, 3] },
        'embedding[0]: ',
      ],
      [
        'a lease from an aspect token',
        'POST',
        '/v1/knowledge',
        { topic: 't', content: 'c', dispatch_id: '1', worker_id: 'w', attempt: 1 },
        'dispatch_id: is sent by worker tokens only',
      ],
      [
        'half a lease',
        'POST',
        '/v1/knowledge',
        { topic: 't', content: 'c', dispatch_id: '1' },
        'worker_id: is required with dispatch_id',
      ],
      ['a JSON array', 'POST', '/v1/knowledge', [], '(root): '],
      ['a search without q', 'POST', '/v1/knowledge/search', {}, 'q: '],
      ['a blank q', 'GET', '/v1/knowledge/search?q=%20', undefined, 'q: must not be empty or blank'],
      ['top_k 0', 'GET', '/v1/knowledge/search?q=a&top_k=0', undefined, 'top_k: '],
      ['top_k 51', 'POST', '/v1/knowledge/search', { q: 'a', top_k: 51 }, 'top_k: '],
      [
        'an unknown scope',
        'GET',
        '/v1/knowledge/search?q=a&scope=mine',
        undefined,
        'scope: must be a comma-separated list of own, shared and peer:NAME',
      ],
      [
        'a peer that is not a name',
        'GET',
        '/v1/knowledge/search?q=a&scope=peer:Bob',
        undefined,
        'scope: must be a comma-separated list',
      ],
      ['an empty scope part', 'GET', '/v1/knowledge/search?q=a&scope=own,', undefined, 'scope: '],
      ['an unknown query field', 'GET', '/v1/knowledge/search?q=a&k=1', undefined, 'k: is not a known field'],
      ['a list limit of 0', 'GET', '/v1/knowledge?limit=0', undefined, 'limit: '],
      [
        'a list author that is not a name',
        'GET',
        '/v1/knowledge?from_agent=A%20B',
        undefined,
        'from_agent: ',
      ],
      [
        'a list cursor that is not an id',
        'GET',
        '/v1/knowledge?after=x',
        undefined,
        'after: must be a decimal id string',
      ],
      ['a delete of a non-id', 'DELETE', '/v1/knowledge/abc', undefined, 'id: must be a decimal id string'],
    ];
    it.each(cases)('%s', async (_name, method, path, body, message) => {
      await store(alice, { topic: 'existing', content: 'stays as it is' });
      const before = await rows();
      const error = await errorOf(alice.call(method, path, body));
      expect(error).toMatchObject({ status: 400, code: 'invalid_request' });
      expect(error?.message.startsWith(message)).toBe(true);
      expect(await rows()).toEqual(before);
    });
  });
});
