/**
 * How `nexus dev` ends, on the embedded PostgreSQL: a closed terminal (SIGHUP to the foreground
 * group) stops everything as Ctrl-C does; a stdout whose reader went away does not crash the
 * supervisor; a supervisor that crashes still takes PostgreSQL and the runtimes with it; a
 * PostgreSQL that dies stops everything with one line; a cluster whose password no longer matches
 * DATA fails at once with what to delete; ports in use are refused before PostgreSQL starts. The
 * server never sees the supervisor's secrets in its environment.
 *
 * DATA sits in a 0700 temp folder, as in a clone under /root: run as root, the cluster lives in
 * /var/lib/nexus/dev-<hash> (B.45), which the password test needs.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { NEXUS_BIN, waitUntil } from '../testing/index.js';
import {
  processTree,
  processesMentioning,
  runProcess,
  signalGroup,
  stillRunning,
  userEnv,
  type DevProcess,
} from '../testing/dev-process.js';

const CANARY = 'sk-ant-canary-must-not-reach-postgres';
const READY_MS = 120_000;
const STOP_MS = 60_000;

describe('nexus dev ends cleanly, whatever ends it', () => {
  let work: string;
  let data: string;
  let clusterDir = '';
  const started: DevProcess[] = [];

  const dev = (env: Record<string, string> = {}, args: string[] = []) => {
    const process = runProcess(
      globalThis.process.execPath,
      [NEXUS_BIN, 'dev', '--port', '0', '--metrics-port', 'auto', ...args],
      { cwd: work, env: userEnv(env), detached: true },
    );
    started.push(process);
    return process;
  };
  /** Starts and waits for `ready`; notes where the cluster is. */
  const ready = async (env: Record<string, string> = {}) => {
    const process = dev(env);
    await process.waitFor('Ctrl-C stops everything', { timeoutMs: READY_MS, stream: 'stderr' });
    const where = /PostgreSQL [\d.]+ on 127\.0\.0\.1:\d+, cluster in (\S+)/.exec(process.stderr())?.[1];
    clusterDir = path.resolve(work, where as string);
    return process;
  };
  const postmaster = () => {
    const found = processesMentioning(`${clusterDir}/data`);
    expect(found).toHaveLength(1);
    return (found[0] as { pid: number }).pid;
  };
  /** Every process of the tree gone, the cluster's included. */
  const nothingLeft = async (tree: number[]) => {
    const { elapsedMs } = await waitUntil(() => stillRunning(tree).length === 0, {
      timeoutMs: STOP_MS,
      what: `every process of nexus dev's tree (${tree.join(', ')}) to exit`,
    });
    console.log(`the ${tree.length} processes of nexus dev's tree gone ${elapsedMs} ms after it exited`);
    expect(clusterDir).not.toBe('');
    expect(processesMentioning(clusterDir)).toEqual([]);
    expect(processesMentioning(data)).toEqual([]);
  };

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'nexus-dev-stop-'));
    data = path.join(work, '.nexus');
    await mkdir(path.join(work, 'agents', 'frame'), { recursive: true });
    await writeFile(
      path.join(work, 'agents', 'frame', 'aspect.json'),
      JSON.stringify({
        name: 'frame',
        role: 'frame',
        context_mode: 'thread',
        provider: { kind: 'scripted' },
        tools: ['send_message'],
      }),
    );
  });

  // A test that failed may leave its nexus dev running: killed, as a crash would leave it, so the
  // next start clears up after it and the tests stay independent.
  afterEach(() => {
    for (const process of started)
      if (process.child.exitCode === null)
        for (const pid of processTree(process.pid)) globalThis.process.kill(pid, 'SIGKILL');
  });

  afterAll(async () => {
    for (const process of started) if (process.child.exitCode === null) process.child.kill('SIGKILL');
    for (const { pid } of [
      ...processesMentioning(work),
      ...(clusterDir ? processesMentioning(clusterDir) : []),
    ])
      globalThis.process.kill(pid, 'SIGKILL');
    await rm(work, { recursive: true, force: true });
    // Where the cluster lives outside DATA (B.45), also when a test failed before it was printed.
    const outside = `/var/lib/nexus/dev-${createHash('sha256').update(data).digest('hex').slice(0, 16)}`;
    await rm(outside, { recursive: true, force: true });
  });

  it("keeps the supervisor's secrets out of PostgreSQL's environment, and stops everything on SIGHUP", async () => {
    const process = await ready({ ANTHROPIC_API_KEY: CANARY });
    const server = postmaster();
    const tree = processTree(process.pid);
    expect(tree).toContain(server);
    // The postmaster and its backends (auxiliary processes and connections).
    const serverProcesses = [server, ...processTree(server).slice(1)];
    expect(serverProcesses.length).toBeGreaterThan(1);
    for (const pid of serverProcesses) {
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      expect([pid, environ.includes(CANARY)]).toEqual([pid, false]);
    }
    const names = readFileSync(`/proc/${server}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((entry) => entry.split('=')[0]);
    expect(names.sort()).toEqual(['LANG', 'LC_ALL', 'PATH']); // the test passes no LD_LIBRARY_PATH

    // A closed terminal: SIGHUP to the foreground process group.
    signalGroup(process, 'SIGHUP');
    expect(await process.exited()).toBe(0);
    expect(process.stderr()).toContain('nexus dev: stopping (SIGHUP)');
    expect(process.stderr()).toContain('nexus dev: stopped');
    await nothingLeft(tree);
  }, 240_000);

  it('keeps running when the reader of its stdout goes away, and stops cleanly on Ctrl-C', async () => {
    const process = dev();
    // As `nexus dev | head -1` once head has gone: writes to stdout fail with EPIPE.
    process.child.stdout?.destroy();
    await process.waitFor('Ctrl-C stops everything', { timeoutMs: READY_MS, stream: 'stderr' });
    const tree = processTree(process.pid);
    expect(tree.length).toBeGreaterThan(3); // supervisor, postmaster and its backends, the runtime
    signalGroup(process, 'SIGINT');
    expect(await process.exited()).toBe(0);
    expect(process.stderr()).toContain('nexus dev: stopped');
    expect(process.stderr()).not.toContain('EPIPE');
    await nothingLeft(tree);
  }, 240_000);

  it('takes PostgreSQL and the runtimes with it when the supervisor crashes', async () => {
    // A fault injected into the supervisor only (`nexus … dev`, not the runtimes' `nexus … agent`):
    // an uncaught exception when the test sends SIGUSR2.
    const crash = path.join(work, 'crash-on-sigusr2.mjs');
    await writeFile(
      crash,
      `if (process.argv[2] === 'dev') process.on('SIGUSR2', () => { throw new Error('injected crash'); });\n`,
    );
    const process = await ready({ NODE_OPTIONS: `--import=${pathToFileURL(crash).href}` });
    const tree = processTree(process.pid);
    expect(tree.length).toBeGreaterThan(3);
    process.child.kill('SIGUSR2');
    expect(await process.exited()).toBe(1);
    expect(process.stderr()).toContain('injected crash');
    await nothingLeft(tree);
  }, 240_000);

  it('stops everything with one line when PostgreSQL dies', async () => {
    const process = await ready();
    const tree = processTree(process.pid);
    const lines = process.stderr().split('\n').length;
    globalThis.process.kill(postmaster(), 'SIGKILL');
    const { elapsedMs } = await waitUntil(() => process.child.exitCode !== null, {
      timeoutMs: STOP_MS,
      what: 'nexus dev to exit after PostgreSQL died',
    });
    console.log(`nexus dev exited ${elapsedMs} ms after PostgreSQL was killed`);
    expect(await process.exited()).toBe(1);
    const after = process
      .stderr()
      .split('\n')
      .slice(lines - 1)
      .filter(Boolean);
    expect(after).toEqual([
      expect.stringMatching(
        /^nexus dev: PostgreSQL exited unexpectedly \(signal SIGKILL\); see \S+postgres\.log: stopping everything$/,
      ),
    ]);
    await nothingLeft(tree);
  }, 240_000);

  it('fails at once, naming what to delete, when the cluster was made with another password', async () => {
    // Deleting DATA leaves a cluster that lives outside it; in DATA, only the password file goes.
    if (clusterDir.startsWith(data)) await rm(path.join(data, 'postgres-password'));
    else await rm(data, { recursive: true });
    const started = Date.now();
    const process = dev();
    expect(await process.exited()).toBe(2);
    console.log(`the start with a mismatched password ended in ${Date.now() - started} ms`);
    const lines = process.stderr().trim().split('\n');
    const shownCluster = clusterDir.startsWith(work) ? path.relative(work, clusterDir) : clusterDir;
    expect(lines.at(-1)).toBe(
      `nexus: dev: PostgreSQL refused the password in .nexus/postgres-password: the cluster in ${shownCluster} was made with another one (DATA was deleted but not the cluster, or the password file was replaced); delete ${shownCluster} to start from nothing`,
    );
    expect(process.stderr()).not.toContain('did not accept connections');
    expect(processesMentioning(clusterDir)).toEqual([]);
    const log = await readFile(path.join(data, 'logs', 'postgres.log'), 'utf8');
    expect(log).toContain('password authentication failed');
  }, 240_000);

  it('refuses a --port or --metrics-port in use before PostgreSQL starts', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      for (const [flag, line] of [
        [
          '--port',
          `nexus: dev: port ${port} is already in use (another nexus dev or broker?): choose another with --port`,
        ],
        [
          '--metrics-port',
          `nexus: dev: metrics port ${port} is already in use: choose another with --metrics-port (a number, auto, or 0 for none)`,
        ],
      ] as const) {
        const process = dev({}, [flag, String(port)]);
        expect(await process.exited()).toBe(2);
        expect(process.stderr().trim().split('\n').at(-1)).toBe(line);
        expect(process.stderr()).not.toContain('PostgreSQL');
      }
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  }, 120_000);
});
