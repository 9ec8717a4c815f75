/**
 * The knowledge store from a runtime (SPEC sections 7 and 9, B.18, B.26): a claude-api aspect,
 * driven by the Anthropic double, stores and searches in one turn; active retrieval on a thread's
 * first message writes `custom.knowledge`, and its note reaches the provider before the message.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { KnowledgeEntry, RosterEntry } from '../protocol/index.js';
import { useClaudeAspect, waitUntil, type RecordedRequest } from '../testing/index.js';

interface Line {
  kind?: string;
  parentId?: string | null;
  id?: string;
  payload?: Record<string, unknown>;
}

type Block = { type: string; text?: string; content?: string; tool_use_id?: string };
const messagesOf = (request: RecordedRequest | undefined) =>
  ((request?.body as { messages?: { role: string; content: string | Block[] }[] }).messages ?? []).map(
    (m) => ({
      role: m.role,
      blocks: typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content,
    }),
  );
/** The content of the tool result answering the newest tool use of a request. */
const lastToolResult = (request: RecordedRequest | undefined) =>
  messagesOf(request)
    .flatMap((m) => m.blocks)
    .filter((b) => b.type === 'tool_result')
    .at(-1)?.content;

describe('the knowledge tools and active retrieval in a runtime', () => {
  const env = useClaudeAspect('knowledge_runtime');
  const apiKey = `sk-ant-test-${randomBytes(12).toString('hex')}`;
  const sessionLines = async (home: string, threadId: string): Promise<Line[]> =>
    (await readFile(path.join(home, 'session', 'threads', `${threadId}.jsonl`), 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Line);

  it('stores and searches in one turn: the model reads the results, and the entry is in the store', async () => {
    const { double } = env;
    const before = double.messageRequests().length;
    double.reply({
      toolCalls: [
        {
          name: 'knowledge_store',
          input: { topic: 'deploy freeze', content: 'No deploys on Fridays after noon.', shared: true },
        },
      ],
    });
    double.reply({ toolCalls: [{ name: 'knowledge_search', input: { query: 'friday deploys' } }] });
    double.reply({ text: 'Remembered and checked.' });
    const { home } = await env.start({
      name: 'keeper',
      apiKey,
      aspect: { context_mode: 'thread', tools: ['send_message', 'knowledge_search', 'knowledge_store'] },
    });
    const admin = env.admin();
    const { aspects } = await admin.get<{ aspects: RosterEntry[] }>('/v1/aspects');
    expect(aspects.find((a) => a.name === 'keeper')?.capabilities).toEqual([
      'send_message',
      'knowledge_search',
      'knowledge_store',
    ]);

    const sent = await admin.post<{ thread_id: string }>('/v1/messages', {
      content: 'Please remember the deploy freeze.',
      to: ['keeper'],
    });
    await waitUntil(() => double.messageRequests().length >= before + 3, {
      timeoutMs: 30_000,
      what: "keeper's three provider calls",
    });
    const requests = double.messageRequests().slice(before);

    // The first request offers both tools with their schemas.
    const offered = (
      requests[0]?.body as { tools: { name: string; input_schema: { required?: string[] } }[] }
    ).tools;
    expect(offered.find((t) => t.name === 'knowledge_store')?.input_schema.required).toEqual([
      'topic',
      'content',
    ]);
    expect(offered.find((t) => t.name === 'knowledge_search')?.input_schema.required).toEqual(['query']);

    const stored = JSON.parse(lastToolResult(requests[1]) ?? 'null') as { id: string };
    expect(stored).toEqual({ id: expect.stringMatching(/^\d+$/) });
    const found = JSON.parse(lastToolResult(requests[2]) ?? 'null') as { hits: unknown[] };
    expect(found).toEqual({
      hits: [
        {
          from_agent: 'keeper',
          topic: 'deploy freeze',
          content: 'No deploys on Fridays after noon.',
          score: expect.any(Number),
        },
      ],
    });

    const { entries } = await admin.get<{ entries: KnowledgeEntry[] }>('/v1/knowledge?from_agent=keeper');
    expect(entries).toEqual([
      expect.objectContaining({
        id: stored.id,
        from_agent: 'keeper',
        topic: 'deploy freeze',
        content: 'No deploys on Fridays after noon.',
        shared: true,
      }),
    ]);
    // Retrieval ran on this first message, found nothing that matched, and wrote nothing.
    const kinds = (await sessionLines(home, sent.thread_id)).map((l) => l.kind);
    expect(kinds).toContain('turn.user');
    expect(kinds).not.toContain('custom.knowledge');
  });

  it("on a thread's first message, writes custom.knowledge before the message and sends it as a note", async () => {
    const { double } = env;
    const admin = env.admin();
    await admin.post('/v1/knowledge', {
      topic: 'umbrella policy',
      content: 'Carry an umbrella in Bergen: it rains about 200 days a year.',
      shared: true,
    });
    // Private to the operator: never visible to the aspect.
    await admin.post('/v1/knowledge', {
      topic: 'umbrella budget',
      content: 'Umbrellas cost the team 40 EUR.',
    });

    const before = double.messageRequests().length;
    double.reply({ text: 'noted' });
    double.reply({ text: 'noted again' });
    const { home } = await env.start({ name: 'wren', apiKey, aspect: { context_mode: 'thread' } });
    const question = 'Should I bring an umbrella to Bergen?';
    const sent = await admin.post<{ thread_id: string }>('/v1/messages', { content: question, to: ['wren'] });
    await waitUntil(() => double.messageRequests().length >= before + 1, {
      timeoutMs: 30_000,
      what: "wren's provider call",
    });

    const lines = await sessionLines(home, sent.thread_id);
    const note = lines.find((l) => l.kind === 'custom.knowledge');
    expect(note?.payload).toEqual({
      query: 'should or i or bring or an or umbrella or to or bergen',
      thread_id: sent.thread_id,
      hits: [
        {
          from_agent: expect.stringMatching(/^op:/),
          topic: 'umbrella policy',
          content: 'Carry an umbrella in Bergen: it rains about 200 days a year.',
          score: expect.any(Number),
        },
      ],
    });
    const kinds = lines.map((l) => l.kind);
    expect(kinds.indexOf('custom.knowledge')).toBeLessThan(kinds.indexOf('turn.user'));

    // The note reaches the provider ahead of the message, in the same user turn.
    const [first] = messagesOf(double.messageRequests()[before]);
    expect(first?.role).toBe('user');
    const texts = (first?.blocks ?? []).map((b) => b.text ?? '');
    expect(texts[0]).toMatch(/^\[Knowledge found for this thread\]\n/);
    expect(texts[0]).toContain('umbrella policy');
    expect(texts[0]).not.toContain('umbrella budget');
    expect(texts[1]).toContain(question);

    // A later message in the same thread is not its first: no second retrieval.
    await admin.post('/v1/messages', { content: 'And an umbrella for Oslo?', thread_id: sent.thread_id });
    await waitUntil(
      async () =>
        (await sessionLines(home, sent.thread_id)).filter((l) => l.kind === 'turn.user').length === 2,
      { timeoutMs: 30_000, what: 'the second turn' },
    );
    await waitUntil(() => double.messageRequests().length >= before + 2, {
      timeoutMs: 30_000,
      what: "wren's second provider call",
    });
    expect(
      (await sessionLines(home, sent.thread_id)).filter((l) => l.kind === 'custom.knowledge'),
    ).toHaveLength(1);
  });
});
