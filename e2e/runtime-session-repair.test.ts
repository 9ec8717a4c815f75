/**
 * When a batch is acknowledged (B.82): a corrupt session header is repaired and the message
 * answered; a session that cannot be opened leaves the batch unacknowledged, retried with backoff
 * (each failure an `error` event) until the cause is removed, and nothing is skipped.
 */
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
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

interface StoredEvent {
  kind: string;
  ts: string;
  thread_id?: string;
  data: Record<string, unknown>;
}

describe('a batch is acknowledged only once its turn is recorded (B.82)', () => {
  let db: TestDatabase;
  let broker: BrokerProcess;
  const agents: AgentProcess[] = [];
  const bootstrap = newAdminTokenValue();
  const admin = () => adminClient(broker.url, bootstrap);

  beforeAll(async () => {
    db = await createTestDatabase('runtime_session_repair');
    broker = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap });
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await broker?.stop();
    await db?.drop();
  });

  /** An echo aspect in global mode whose home the test may damage before it starts. */
  const echoAspect = async (name: string) => {
    const { token } = await mintAspectToken(admin(), name);
    const home = await writeHome({
      'aspect.json': {
        name,
        context_mode: 'global',
        provider: { kind: 'scripted' },
        tools: ['send_message'],
      },
      'script.json': [
        { tool_calls: [{ name: 'send_message', input: { content: 'echo: {{message.content}}' } }] },
      ],
    });
    const start = async () => {
      const agent = startAgentProcess({ home, url: broker.url, token });
      agents.push(agent);
      await agent.waitForLog('"registered"');
      return agent;
    };
    const acked = async () =>
      (JSON.parse(await readFile(path.join(home, 'state.json'), 'utf8')) as { last_processed_id: string })
        .last_processed_id;
    const events = async (kind: string) =>
      (await admin().get<{ events: StoredEvent[] }>(`/v1/events?aspect=${name}&kind=${kind}&limit=1000`))
        .events;
    return { home, start, acked, events };
  };

  it('repairs a corrupt header line from the file name and the first entry, keeps the bad line, and answers', async () => {
    const aspect = await echoAspect('mended');
    const file = path.join(aspect.home, 'session', 'global.jsonl');
    const entry = {
      id: '01J0000000000000000000000A',
      parentId: null,
      ts: '2026-01-02T03:04:05.000Z',
      kind: 'turn.user',
      payload: { content: 'an earlier question', message_ids: [] },
    };
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `{"nexus_session":1,"sid":"glo\n${JSON.stringify(entry)}\n`);
    const peer = await createAspect(broker.url, admin(), 'mended-peer');
    await peer.connect(broker.url);
    await aspect.start();

    const question = await peer.http.post<{ id: string }>('/v1/messages', {
      content: 'still there?',
      to: ['mended'],
    });
    await waitUntil(() => peer.received.length > 0, { timeoutMs: 20_000, what: 'the echo' });
    expect(peer.received.map((m) => m.content)).toEqual(['echo: still there?']);
    await waitUntil(async () => (await aspect.acked()) === question.id, {
      timeoutMs: 10_000,
      what: 'the ack of the question',
    });

    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    expect(JSON.parse(lines[0] as string)).toEqual({
      nexus_session: 1,
      sid: 'global',
      created_at: entry.ts,
    });
    expect(JSON.parse(lines[1] as string)).toEqual(entry); // nothing after the header is lost
    expect(await readFile(`${file}.bad-header`, 'utf8')).toBe('{"nexus_session":1,"sid":"glo\n');
    const errors = await aspect.events('error');
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          data: expect.objectContaining({ file, line: 1, kept_as: `${file}.bad-header` }),
        }),
      ]),
    );
    peer.socket?.close();
  });

  it('leaves a batch whose session cannot be opened unacknowledged, retries it, and answers once the cause is gone', async () => {
    const aspect = await echoAspect('blocked');
    // A folder where the session file should be: opening it fails (EISDIR) until it is removed.
    const file = path.join(aspect.home, 'session', 'global.jsonl');
    await mkdir(file, { recursive: true });
    const peer = await createAspect(broker.url, admin(), 'blocked-peer');
    await peer.connect(broker.url);
    await aspect.start();
    const before = await aspect.acked();

    const first = await peer.http.post<{ id: string }>('/v1/messages', { content: 'one', to: ['blocked'] });
    const second = await peer.http.post<{ id: string }>('/v1/messages', { content: 'two', to: ['blocked'] });
    // Two failures at least: the batch was retried, and each failure is an event.
    const failures = await waitUntil(
      async () => {
        const errors = (await aspect.events('error')).filter((e) => String(e.data.error).includes('EISDIR'));
        return errors.length >= 2 ? errors : null;
      },
      { timeoutMs: 20_000, what: 'two failed attempts' },
    );
    expect(failures.value[0]?.data).toMatchObject({ retry_in_ms: expect.any(Number) });
    expect(await aspect.acked()).toBe(before);
    expect(peer.received).toEqual([]);

    await rmdir(file);
    // The backoff doubles from 1 s; after two failures the next attempt is at most 4 s away.
    await waitUntil(() => peer.received.length >= 2, { timeoutMs: 30_000, what: 'both echoes' });
    expect(peer.received.map((m) => m.content).sort()).toEqual(['echo: one', 'echo: two']);
    await waitUntil(async () => (await aspect.acked()) === second.id, {
      timeoutMs: 10_000,
      what: 'the ack of both messages',
    });
    expect(BigInt(second.id)).toBeGreaterThan(BigInt(first.id));
    peer.socket?.close();
  });
});
