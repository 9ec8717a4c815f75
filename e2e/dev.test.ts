/**
 * Issue 10, tests 1 and 2: `nexus dev` tried as a new user would. From a clean clone of the
 * committed tree, the launcher alone (no DATABASE_URL, no API key) builds, starts the embedded
 * PostgreSQL on its own port, the broker, the worker pool and the shipped team, and reaches
 * `ready`; a question sent with `nexus send --wait` is answered after one aspect dispatched
 * another's Hand; Ctrl-C leaves no process behind; a second start keeps the messages and sessions;
 * a second `nexus dev` on the same data is refused.
 *
 * The ports are the one departure from the bare command: `--port 0 --metrics-port auto`, because
 * the suite shares the machine with other brokers (7888 and 9464 may be taken).
 */
import { stat, readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { BrokerClient } from '../client/index.js';
import type { Message } from '../protocol/index.js';
import { waitUntil } from '../testing/index.js';
import {
  cleanClone,
  processTree,
  processesMentioning,
  runInClone,
  stillRunning,
  userEnv,
  type DevProcess,
} from '../testing/dev-process.js';

const DEV_ARGS = ['dev', '--port', '0', '--metrics-port', 'auto'];
/** The first start builds the clone (tsc) on a busy 2-core machine. */
const FIRST_READY_MS = 300_000;
const READY_MS = 90_000;
const STOP_MS = 60_000;

describe('nexus dev from a clean clone', () => {
  let clone: string;
  let dev: DevProcess | null = null;
  let url: string;
  let admin: BrokerClient;
  let threadId: string;
  let clusterDir: string;
  const started: DevProcess[] = [];

  const start = (): DevProcess => {
    const process = runInClone(clone, DEV_ARGS);
    started.push(process);
    return process;
  };
  const nexus = async (args: string[], env: Record<string, string> = {}) => {
    const run = runInClone(clone, args, userEnv({ NEXUS_URL: url, ...env }));
    const code = await run.exited();
    return { code, stdout: run.stdout(), stderr: run.stderr() };
  };
  const threadMessages = () =>
    admin
      .get<{ messages: Message[] }>(`/v1/messages?thread_id=${threadId}&limit=100`)
      .then((r) => r.messages);

  /** SIGINT to the supervisor, as Ctrl-C does; every process of its tree must be gone after. */
  const interruptAndCheckNothingLeft = async (process: DevProcess) => {
    const tree = processTree(process.pid);
    expect(tree.length).toBeGreaterThan(4); // supervisor, postmaster and its backends, 3 runtimes
    process.child.kill('SIGINT');
    expect(await process.exited()).toBe(0);
    const { elapsedMs } = await waitUntil(() => stillRunning(tree).length === 0, {
      timeoutMs: STOP_MS,
      what: `every process of nexus dev's tree (${tree.join(', ')}) to exit`,
    });
    console.log(`nexus dev stopped; its ${tree.length} processes gone ${elapsedMs} ms after it exited`);
    expect(processesMentioning(clone)).toEqual([]);
    expect(processesMentioning(clusterDir)).toEqual([]);
    expect(process.stderr()).toContain('nexus dev: stopped');
  };

  beforeAll(async () => {
    clone = await cleanClone();
  });

  afterAll(async () => {
    for (const process of started) if (process.child.exitCode === null) process.child.kill('SIGKILL');
    for (const { pid } of [
      ...processesMentioning(clone),
      ...(clusterDir ? processesMentioning(clusterDir) : []),
    ])
      globalThis.process.kill(pid, 'SIGKILL');
    await rm(path.dirname(clone), { recursive: true, force: true });
    // The cluster of a clone the postgres OS user cannot reach lives outside it (B.45).
    if (clusterDir?.startsWith('/var/lib/nexus/')) await rm(clusterDir, { recursive: true, force: true });
  });

  it('brings the shipped team to ready on the embedded PostgreSQL, with no key', async () => {
    dev = start();
    const ms = await dev.waitFor('\nready\n', { timeoutMs: FIRST_READY_MS });
    console.log(`first start (build included) reached ready in ${ms} ms`);
    const out = dev.stdout();
    url = /Nexus is running at (http:\/\/\S+)/.exec(out)?.[1] as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(out).toContain('admin token: .nexus/admin-token');
    for (const name of ['frame', 'researcher', 'writer'])
      expect(out).toMatch(new RegExp(`^  ${name} +\\w+ +live, offline on the scripted provider`, 'm'));
    expect(out).toMatch(/writer .*Hands: summarise/);

    // The embedded server, on a port of its own: not the machine's PostgreSQL.
    const err = dev.stderr();
    expect(err).toContain('PostgreSQL 18.4: creating a cluster in');
    const port = Number(/PostgreSQL 18\.4 on 127\.0\.0\.1:(\d+), cluster in (\S+)/.exec(err)?.[1]);
    clusterDir = /PostgreSQL 18\.4 on 127\.0\.0\.1:\d+, cluster in (\S+)/.exec(err)?.[1] as string;
    if (!path.isAbsolute(clusterDir)) clusterDir = path.join(clone, clusterDir);
    expect(port).not.toBe(5432);
    const postmaster = processesMentioning(`${clusterDir}/data`);
    expect(postmaster.map((p) => p.command).join('\n')).toContain(`-p ${port}`);
    // mkdtemp made the clone's parent 0700: the postgres OS user cannot reach it (B.45).
    if (process.getuid?.() === 0) expect(clusterDir).toMatch(/^\/var\/lib\/nexus\/dev-[0-9a-f]+$/);

    for (const file of ['admin-token', 'secret-key'])
      expect((await stat(path.join(clone, '.nexus', file))).mode & 0o777).toBe(0o600);
    admin = new BrokerClient({
      url,
      token: (await readFile(path.join(clone, '.nexus/admin-token'), 'utf8')).trim(),
    });
  });

  it("answers a question sent with nexus send --wait after one aspect dispatched another's Hand", async () => {
    // The token comes from ./.nexus/admin-token, the client default (B.34): no NEXUS_TOKEN given.
    const sent = await nexus(['send', '--wait=10', 'What is a Hand, in one breath?']);
    expect(sent.code).toBe(0);
    threadId = /sent \d+ in thread (\d+)/.exec(sent.stdout)?.[1] as string;
    expect(sent.stdout).toContain('(hand summarise)');
    expect(sent.stderr).toContain(`waiting for replies in thread ${threadId}`);

    // --wait ends after 10 s of quiet; on a busy machine a step may take longer, so the thread is
    // read until the answer is there.
    const { value: messages } = await waitUntil(
      async () => {
        const all = await threadMessages();
        const result = all.find((m) => m.kind === 'hand_result');
        return result && all.some((m) => m.from === 'researcher' && BigInt(m.id) > BigInt(result.id))
          ? all
          : null;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: "the researcher's answer after the hand_result" },
    );
    const hand = messages.find((m) => m.kind === 'hand');
    const result = messages.find((m) => m.kind === 'hand_result') as Message;
    expect(hand).toMatchObject({ from: 'researcher', to: ['writer'], hand: 'summarise' });
    expect(result).toMatchObject({ from: 'writer', to: ['researcher'], reply_to: hand?.id });
    const answer = messages.find(
      (m) => m.from === 'researcher' && m.kind === 'chat' && BigInt(m.id) > BigInt(result.id),
    );
    expect(answer?.content).toContain(result.content);
  });

  it('stops everything on Ctrl-C, keeps messages and sessions across a restart, refuses a second dev', async () => {
    const before = await threadMessages();
    const session = path.join(clone, '.nexus/homes/researcher/session/threads', `${threadId}.jsonl`);
    const sessionBefore = await readFile(session, 'utf8');
    const stateBefore = await readFile(path.join(clone, '.nexus/homes/researcher/state.json'), 'utf8');
    await interruptAndCheckNothingLeft(dev as DevProcess);

    dev = start();
    const ms = await dev.waitFor('\nready\n', { timeoutMs: READY_MS });
    console.log(`warm start reached ready in ${ms} ms`);
    expect(dev.stderr()).not.toContain('creating a cluster');
    expect(dev.stderr()).not.toContain('discarded');
    url = /Nexus is running at (http:\/\/\S+)/.exec(dev.stdout())?.[1] as string;
    admin = new BrokerClient({
      url,
      token: (await readFile(path.join(clone, '.nexus/admin-token'), 'utf8')).trim(),
    });
    expect((await threadMessages()).map((m) => m.id)).toEqual(before.map((m) => m.id));
    expect((await readFile(session, 'utf8')).startsWith(sessionBefore)).toBe(true);
    expect(await readFile(path.join(clone, '.nexus/homes/researcher/state.json'), 'utf8')).toBe(stateBefore);
    expect(await readdir(path.join(clone, '.nexus/homes/researcher'))).not.toContainEqual(
      expect.stringMatching(/^discarded-/),
    );

    // The session goes on: a follow-up in the thread is answered and appended to the same file.
    const followUp = await nexus(['send', '--thread', threadId, '--wait=10', 'And who ran it?']);
    expect(followUp.code).toBe(0);
    const grown = await readFile(session, 'utf8');
    expect(grown.startsWith(sessionBefore) && grown.length > sessionBefore.length).toBe(true);

    const second = runInClone(clone, DEV_ARGS);
    started.push(second);
    expect(await second.exited()).not.toBe(0);
    expect(second.stderr()).toContain(`nexus dev is already running on .nexus (pid ${dev.pid})`);

    await interruptAndCheckNothingLeft(dev);
  });
});
