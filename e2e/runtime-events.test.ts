/**
 * Events from a runtime (section 10, B.88): `tool.call` is published with `{tool, call_id, ok, ms}`,
 * turn events carry their session's thread, and events published while the broker is unreachable
 * arrive, with their original `ts`, once it is back.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
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

interface StoredEvent {
  kind: string;
  ts: string;
  thread_id?: string;
  data: Record<string, unknown>;
}

describe('events from a runtime (B.88)', () => {
  let db: TestDatabase;
  let broker: BrokerProcess;
  let agent: AgentProcess | undefined;
  const bootstrap = newAdminTokenValue();
  const admin = () => adminClient(broker.url, bootstrap);
  const events = async (kind: string) =>
    (await admin().get<{ events: StoredEvent[] }>(`/v1/events?aspect=herald&kind=${kind}&limit=1000`)).events;

  beforeAll(async () => {
    db = await createTestDatabase('runtime_events');
    broker = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap });
  });
  afterAll(async () => {
    await agent?.stop();
    await broker?.stop();
    await db?.drop();
  });

  it('publishes tool calls and thread-tagged turn events, and keeps those made while the broker is away', async () => {
    const { token } = await mintAspectToken(admin(), 'herald');
    const home = await writeHome({
      'aspect.json': {
        name: 'herald',
        context_mode: 'thread',
        provider: { kind: 'scripted' },
        tools: ['send_message'],
      },
      'script.json': [
        // Answers without a broker call, slowly: the broker dies and returns meanwhile.
        { match: 'slow', reply: 'thought about it', ttft_ms: 4000 },
        { tool_calls: [{ name: 'send_message', input: { content: 'heard: {{message.content}}' } }] },
      ],
    });
    agent = startAgentProcess({ home, url: broker.url, token });
    await agent.waitForLog('"registered"');

    const quick = await admin().post<{ thread_id: string }>('/v1/messages', {
      content: 'hello',
      to: ['herald'],
    });
    const toolCalls = await waitUntil(
      async () => ((await events('tool.call')).length > 0 ? events('tool.call') : null),
      {
        timeoutMs: 20_000,
        what: 'the tool.call event',
      },
    );
    expect(toolCalls.value).toHaveLength(1);
    const [toolCall] = toolCalls.value;
    expect(Object.keys(toolCall?.data ?? {}).sort()).toEqual(['call_id', 'ms', 'ok', 'tool']);
    expect(toolCall).toMatchObject({
      thread_id: quick.thread_id,
      data: { tool: 'send_message', call_id: expect.any(String), ok: true, ms: expect.any(Number) },
    });
    const quickEnd = await waitUntil(
      async () => (await events('turn.end')).find((e) => e.thread_id === quick.thread_id),
      { timeoutMs: 10_000, what: 'turn.end of the first thread' },
    );
    expect(quickEnd.value.data).toMatchObject({ reason: 'done', usage: expect.any(Object), cost_usd: 0 });
    expect((await events('turn.start')).map((e) => e.thread_id)).toEqual([quick.thread_id]);

    // The second turn takes 4 s; the broker dies as it starts and is back after it ended.
    const slow = await admin().post<{ thread_id: string }>('/v1/messages', {
      content: 'slow one',
      to: ['herald'],
    });
    await waitUntil(async () => (await events('turn.start')).some((e) => e.thread_id === slow.thread_id), {
      timeoutMs: 20_000,
      what: 'the slow turn to start',
    });
    const port = broker.port;
    await broker.kill();
    const sessionFile = path.join(home, 'session', 'threads', `${slow.thread_id}.jsonl`);
    await waitUntil(async () => (await readFile(sessionFile, 'utf8')).includes('custom.turn_end'), {
      timeoutMs: 20_000,
      what: 'the slow turn to end while the broker is down',
    });
    // Made while the broker was away: the events table (read directly) does not have it yet.
    const stored = new pg.Client({ connectionString: db.url });
    await stored.connect();
    const early = await stored
      .query(`SELECT 1 FROM events WHERE kind = 'turn.end' AND thread_id = $1`, [slow.thread_id])
      .finally(() => stored.end());
    expect(early.rowCount).toBe(0);
    const restartedAt = new Date();
    broker = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap, port });

    const slowEnd = await waitUntil(
      async () => (await events('turn.end')).find((e) => e.thread_id === slow.thread_id),
      { timeoutMs: 20_000, what: 'the turn.end kept while the broker was down' },
    );
    expect(new Date(slowEnd.value.ts).getTime()).toBeLessThan(restartedAt.getTime()); // its own ts
    expect(slowEnd.value.data).toMatchObject({ reason: 'done', message_ids: [expect.any(String)] });
    // Nothing overflowed, so no `dropped` error.
    expect((await events('error')).filter((e) => 'dropped' in e.data)).toEqual([]);
  });
});
