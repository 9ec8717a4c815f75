/**
 * Fork and activate end to end (SPEC section 7, B.12, B.20, B.48, B.50): real broker replicas and
 * real runtimes on a real Postgres. The runtimes' sockets are on replica A; every admin call goes
 * to replica B, so control travels through the control_requests table.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Message, WireError } from '../protocol/index.js';
import { buildContext } from '../runtime/session/context.pure.js';
import { SessionFile } from '../runtime/session/session-file.js';
import {
  adminClient,
  createTestDatabase,
  mintAspectToken,
  newAdminTokenValue,
  runNexus,
  startAgentProcess,
  startBrokerProcess,
  waitUntil,
  writeHome,
  type AgentProcess,
  type BrokerProcess,
  type TestDatabase,
} from '../testing/index.js';

interface TreeEntry {
  id: string;
  parent_id: string | null;
  kind: string;
  preview: string;
}
interface Thread {
  id: string;
  participants: string[];
}

const MISSING_ENTRY = '01ARZ3NDEKTSV4RRFFQ69G5FAV';

describe('session fork and activate through the admin API', () => {
  let db: TestDatabase;
  let replicaA: BrokerProcess;
  let replicaB: BrokerProcess;
  const agents: AgentProcess[] = [];
  const bootstrap = newAdminTokenValue();

  beforeAll(async () => {
    db = await createTestDatabase('session_fork');
    [replicaA, replicaB] = await Promise.all([
      startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap }),
      startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap }),
    ]);
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await Promise.all([replicaA?.stop(), replicaB?.stop()]);
    await db?.drop();
  });

  const admin = () => adminClient(replicaB.url, bootstrap);
  const refusal = (call: Promise<unknown>) =>
    call.then(
      () => null,
      (e: unknown) => e as WireError,
    );
  const text = (file: string) => readFile(file, 'utf8').catch(() => '');
  const turnEnds = async (file: string) => (await text(file)).split('"custom.turn_end"').length - 1;
  const waitForTurns = (file: string, n: number, what: string) =>
    waitUntil(async () => (await turnEnds(file)) >= n, { timeoutMs: 20_000, what });
  const replay = async (file: string, sid: string) => {
    const session = await SessionFile.open(file, { sid });
    return { session, context: buildContext(session.entries, session.head) };
  };

  /** Starts an aspect on replica A that answers "noted: CONTENT" and sends nothing. */
  async function startAspect(name: string, mode: 'thread' | 'global'): Promise<string> {
    const { token } = await mintAspectToken(admin(), name);
    const home = await writeHome({
      'aspect.json': { name, context_mode: mode, provider: { kind: 'scripted' } },
      'script.json': [{ reply: 'noted: {{message.content}}' }],
    });
    const agent = startAgentProcess({ home, url: replicaA.url, token });
    agents.push(agent);
    await agent.waitForLog('"registered"');
    return home;
  }

  it('thread mode: forks into a new thread holding the ancestry; the seed starts its first turn; nothing is deleted', async () => {
    const home = await startAspect('scout', 'thread');
    const first = await admin().post<{ thread_id: string }>('/v1/messages', {
      content: 'plan Rome',
      to: ['scout'],
    });
    const source = first.thread_id;
    const sourceFile = path.join(home, 'session', 'threads', `${source}.jsonl`);
    await waitForTurns(sourceFile, 1, 'the first turn');
    await admin().post('/v1/messages', { content: 'make it a week', thread_id: source, to: ['scout'] });
    await waitForTurns(sourceFile, 2, 'the second turn');

    const before = await admin().get<{ entries: TreeEntry[] }>(`/v1/aspects/scout/sessions/${source}/tree`);
    const users = before.entries.filter((e) => e.kind === 'turn.user');
    const assistant = before.entries.find((e) => e.kind === 'turn.assistant') as TreeEntry;
    const second = users[1] as TreeEntry;
    expect(second.preview).toContain('make it a week');

    // Bad input first: each is refused and changes nothing.
    const fileBefore = await text(sourceFile);
    const threadsBefore = (await admin().get<{ threads: Thread[] }>('/v1/threads')).threads;
    expect(
      await refusal(
        admin().post('/v1/aspects/scout/fork', { thread_id: source, source_entry_id: MISSING_ENTRY }),
      ),
    ).toMatchObject({ code: 'not_found', status: 404 });
    expect(
      await refusal(
        admin().post('/v1/aspects/scout/fork', {
          thread_id: source,
          source_entry_id: assistant.id,
          seed_user_message: 'no',
        }),
      ),
    ).toMatchObject({ code: 'invalid_request', status: 400 });
    expect(
      await refusal(admin().post('/v1/aspects/scout/fork', { source_entry_id: second.id })),
    ).toMatchObject({ code: 'invalid_request', status: 400 });
    expect(
      await refusal(
        admin().post('/v1/aspects/scout/fork', { thread_id: '999999', source_entry_id: second.id }),
      ),
    ).toMatchObject({ code: 'not_found', status: 404 });
    expect(
      await refusal(admin().post('/v1/aspects/nobody/fork', { source_entry_id: second.id })),
    ).toMatchObject({ code: 'not_found', status: 404 });
    expect(await refusal(admin().post('/v1/aspects/scout/activate', { sid: 'global' }))).toMatchObject({
      code: 'conflict',
      status: 409,
    });
    expect(await text(sourceFile)).toBe(fileBefore);
    expect((await admin().get<{ threads: Thread[] }>('/v1/threads')).threads).toEqual(threadsBefore);
    const sessionFiles = async () =>
      (await readdir(path.join(home, 'session', 'threads'))).filter((f) => f.endsWith('.jsonl'));
    expect(await sessionFiles()).toEqual([`${source}.jsonl`]);

    // The fork, with a seed replacing the second message.
    const forked = await admin().post<{ thread_id: string; head: string }>('/v1/aspects/scout/fork', {
      thread_id: source,
      source_entry_id: second.id,
      seed_user_message: 'make it a month',
    });
    expect(forked.thread_id).not.toBe(source);
    expect(forked.head).toBe(second.parent_id);
    const thread = await admin().get<Thread>(`/v1/threads/${forked.thread_id}`);
    const sourceThread = await admin().get<Thread>(`/v1/threads/${source}`);
    expect(thread.participants).toEqual(sourceThread.participants);

    const forkFile = path.join(home, 'session', 'threads', `${forked.thread_id}.jsonl`);
    await waitForTurns(forkFile, 2, "the fork's seeded turn");
    const { session, context } = await replay(forkFile, forked.thread_id);
    expect(session.header.forked_from).toEqual({ sid: source, entry_id: second.id });
    const contents = context.messages.map((m) => m.content);
    expect(contents).toEqual([
      expect.stringContaining('plan Rome'),
      'noted: plan Rome',
      expect.stringContaining('make it a month'),
      'noted: make it a month',
    ]);
    // Copies keep their ids; the replaced message was not copied.
    for (const entry of before.entries.slice(0, before.entries.indexOf(second)))
      if (entry.kind !== 'custom.control') expect(session.has(entry.id)).toBe(true);
    expect(session.has(second.id)).toBe(false);
    // The seed is an ordinary message from the caller to the aspect, in the new thread.
    const { messages } = await admin().get<{ messages: Message[] }>(
      `/v1/messages?thread_id=${forked.thread_id}`,
    );
    expect(messages).toEqual([
      expect.objectContaining({ from: 'op:bootstrap', to: ['scout'], content: 'make it a month' }),
    ]);

    // Nothing deleted: every entry of the source is still in its file, which replays as before.
    const sourceAfter = await text(sourceFile);
    for (const entry of before.entries) expect(sourceAfter).toContain(entry.id);
    const sourceReplay = await replay(sourceFile, source);
    expect(sourceReplay.context.messages.map((m) => m.content)).toContain('noted: make it a week');

    // Without a seed the fork holds the ancestry up to and including the source entry.
    const plain = await admin().post<{ thread_id: string; head: string }>('/v1/aspects/scout/fork', {
      thread_id: source,
      source_entry_id: assistant.id,
    });
    expect(plain.head).toBe(assistant.id);
    const plainReplay = await replay(
      path.join(home, 'session', 'threads', `${plain.thread_id}.jsonl`),
      plain.thread_id,
    );
    expect(plainReplay.context.messages.map((m) => m.content)).toEqual([
      expect.stringContaining('plan Rome'),
      'noted: plan Rome',
    ]);
  });

  it('global mode: the fork becomes the active session, takes the next turns, and activate switches back', async () => {
    const home = await startAspect('wren', 'global');
    const globalFile = path.join(home, 'session', 'global.jsonl');
    for (const [i, content] of ['alpha', 'beta'].entries()) {
      await admin().post('/v1/messages', { content, to: ['wren'] });
      await waitForTurns(globalFile, i + 1, `turn ${i + 1}`);
    }
    const before = await admin().get<{ entries: TreeEntry[] }>('/v1/aspects/wren/sessions/global/tree');
    const firstEnd = before.entries.find((e) => e.kind === 'custom.turn_end') as TreeEntry;

    // Through the CLI, as an operator would.
    const env = { NEXUS_URL: replicaB.url, NEXUS_TOKEN: bootstrap };
    const forkRun = await runNexus(['session', 'fork', 'wren', firstEnd.id, '--json'], env);
    expect(forkRun.code).toBe(0);
    const forked = JSON.parse(forkRun.output) as { session: string; head: string };
    expect(forked).toEqual({ session: expect.stringMatching(/^fork-[0-9A-Z]{26}$/), head: firstEnd.id });
    const listed = await admin().get<{ sessions: { sid: string; active?: boolean }[] }>(
      '/v1/aspects/wren/sessions',
    );
    expect(listed.sessions).toEqual([
      expect.objectContaining({ sid: 'global' }),
      expect.objectContaining({ sid: forked.session, active: true }),
    ]);

    const forkFile = path.join(home, 'session', 'forks', `${forked.session.slice('fork-'.length)}.jsonl`);
    const globalAtFork = await text(globalFile);
    await admin().post('/v1/messages', { content: 'gamma', to: ['wren'] });
    await waitForTurns(forkFile, 2, 'a turn in the fork');
    expect(await text(globalFile)).toBe(globalAtFork);
    const inFork = await replay(forkFile, forked.session);
    expect(inFork.session.header.forked_from).toEqual({ sid: 'global', entry_id: firstEnd.id });
    expect(inFork.context.messages.map((m) => m.content)).toEqual([
      expect.stringContaining('alpha'),
      'noted: alpha',
      expect.stringContaining('gamma'),
      'noted: gamma',
    ]);

    expect(await refusal(admin().post('/v1/aspects/wren/activate', { sid: 'fork-NOPE' }))).toMatchObject({
      code: 'not_found',
      status: 404,
    });
    const activateRun = await runNexus(['session', 'activate', 'wren', 'global'], env);
    expect(activateRun).toMatchObject({ code: 0, output: 'global is now the active session\n' });
    await admin().post('/v1/messages', { content: 'delta', to: ['wren'] });
    await waitForTurns(globalFile, 3, 'a turn in global again');
    const back = await replay(globalFile, 'global');
    expect(back.context.messages.map((m) => m.content)).toEqual([
      expect.stringContaining('alpha'),
      'noted: alpha',
      expect.stringContaining('beta'),
      'noted: beta',
      expect.stringContaining('delta'),
      'noted: delta',
    ]);
    expect(await turnEnds(forkFile)).toBe(2);

    // A global fork with a seed: the seed reaches the aspect from the caller and runs in the fork.
    const secondUser = before.entries.filter((e) => e.kind === 'turn.user')[1] as TreeEntry;
    const seeded = await admin().post<{ session: string; head: string }>('/v1/aspects/wren/fork', {
      source_entry_id: secondUser.id,
      seed_user_message: 'epsilon',
    });
    expect(seeded.head).toBe(secondUser.parent_id);
    const seededFile = path.join(home, 'session', 'forks', `${seeded.session.slice('fork-'.length)}.jsonl`);
    await waitForTurns(seededFile, 2, 'the seeded turn in the global fork');
    const seededReplay = await replay(seededFile, seeded.session);
    expect(seededReplay.context.messages.map((m) => m.content)).toEqual([
      expect.stringContaining('alpha'),
      'noted: alpha',
      expect.stringContaining('epsilon'),
      'noted: epsilon',
    ]);
    // Nothing deleted anywhere: every entry from before the forks is still in global.jsonl.
    const globalText = await text(globalFile);
    for (const entry of before.entries) expect(globalText).toContain(entry.id);
  });
});
