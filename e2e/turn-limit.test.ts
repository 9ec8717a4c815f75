/**
 * The thread turn limit end to end (B.59, B.83, B.84): two scripted aspects whose every turn
 * answers the other stop at NEXUS_THREAD_TURN_LIMIT, the broker posts exactly one note from
 * `nexus`, and a message from an operator starts the count again.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Message } from '../protocol/index.js';
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

const LIMIT = 6;

describe('two aspects answering each other', () => {
  let db: TestDatabase;
  let broker: BrokerProcess;
  const agents: AgentProcess[] = [];
  const homes = new Map<string, string>();
  const bootstrap = newAdminTokenValue();
  const admin = () => adminClient(broker.url, bootstrap);

  /** A scripted aspect whose every turn sends one message to `other` in the thread being handled. */
  const startVolleyer = async (name: string, other: string) => {
    const { token } = await mintAspectToken(admin(), name);
    const home = await writeHome({
      'aspect.json': {
        name,
        context_mode: 'global',
        provider: { kind: 'scripted' },
        tools: ['send_message'],
      },
      'script.json': [{ tool_calls: [{ name: 'send_message', input: { content: 'volley', to: [other] } }] }],
    });
    homes.set(name, home);
    const agent = startAgentProcess({ home, url: broker.url, token });
    agents.push(agent);
    await agent.waitForLog('"registered"');
  };
  const acked = async (name: string) =>
    BigInt(
      (
        JSON.parse(await readFile(path.join(homes.get(name) as string, 'state.json'), 'utf8')) as {
          last_processed_id: string;
        }
      ).last_processed_id,
    );
  const thread = async (id: string) =>
    (await admin().get<{ messages: Message[] }>(`/v1/messages?thread_id=${id}&limit=1000`)).messages;
  /** Each message as `from:kind`, with `!` when it carries turn_limit. */
  const shape = (messages: Message[]) => messages.map((m) => `${m.from}:${m.kind}${m.turn_limit ? '!' : ''}`);

  /**
   * Waits for the run to stop: the note is posted and both runtimes have processed everything up
   * to it. A turn sends before it acknowledges, so nothing after the note then means no more turns.
   */
  const stopped = async (threadId: string, notes: number) => {
    const { value: note } = await waitUntil(
      async () => (await thread(threadId)).filter((m) => m.from === 'nexus')[notes - 1],
      { timeoutMs: 60_000, what: `turn-limit note ${notes}` },
    );
    await waitUntil(
      async () => (await acked('ping')) >= BigInt(note.id) && (await acked('pong')) >= BigInt(note.id),
      {
        timeoutMs: 30_000,
        what: 'both aspects to process the note',
      },
    );
    return note;
  };

  beforeAll(async () => {
    db = await createTestDatabase('turn_limit_e2e');
    broker = await startBrokerProcess({
      databaseUrl: db.url,
      bootstrapToken: bootstrap,
      env: { NEXUS_THREAD_TURN_LIMIT: String(LIMIT) },
    });
    await startVolleyer('ping', 'pong');
    await startVolleyer('pong', 'ping');
  }, 60_000);
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await broker?.stop();
    await db?.drop();
  });

  it('stops at the limit with one note from nexus, and an operator message starts the count again', async () => {
    const serve = await admin().post<{ id: string; thread_id: string }>('/v1/messages', {
      content: 'serve',
      to: ['ping'],
    });
    const note = await stopped(serve.thread_id, 1);
    const volleys = Array.from({ length: LIMIT }, (_, i) => (i % 2 ? 'pong:chat' : 'ping:chat'));
    const run = [...volleys, LIMIT % 2 ? 'pong:chat!' : 'ping:chat!', 'nexus:system!'];
    expect(shape(await thread(serve.thread_id))).toEqual(['op:bootstrap:chat', ...run]);
    expect(note.content).toContain('operator');
    // Both took the note without a turn: nothing was sent after it, and each runtime recorded why.
    expect((await thread(serve.thread_id)).at(-1)?.id).toBe(note.id);
    for (const agent of agents) expect(agent.logs()).toContain('thread turn limit reached');

    // An operator writes in the thread: the count starts again, and so does the volley.
    await admin().post('/v1/messages', { content: 'again', to: ['ping'], thread_id: serve.thread_id });
    await stopped(serve.thread_id, 2);
    const messages = await thread(serve.thread_id);
    expect(shape(messages)).toEqual(['op:bootstrap:chat', ...run, 'op:bootstrap:chat', ...run]);
    expect(messages.filter((m) => m.from === 'nexus')).toHaveLength(2);
  }, 120_000);
});
