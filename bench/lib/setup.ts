/**
 * Set-up shared by the benchmarks: the template database, one database per benchmark, real
 * `nexus broker` processes with rate limits off, baseline servers in child processes, and a scope
 * that tears all of it down whatever happens.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { migrate } from '../../broker/db/migrate.js';
import {
  adminClient,
  databaseUrl,
  newAdminTokenValue,
  startBrokerProcess,
  type BrokerProcess,
  withServerClient,
  type TestDatabase,
} from '../../testing/index.js';
import type { BrokerClient } from '../../client/index.js';

/** The benchmarks' own migrated template and database prefix (see `ensureTemplate`). */
const TEMPLATE = 'nexus_bench_template';
const PREFIX = 'nexus_bench_';

/**
 * Re-creates the migrated template the benchmark databases clone, and drops databases an earlier
 * benchmark run left behind: the logic of `testing/global-setup.mjs`, under a prefix of its own.
 * The test template and `createTestDatabase` are not used because every test run's global set-up
 * drops all `nexus_t_*` databases WITH (FORCE): a test run started by anyone during a benchmark
 * would kill the benchmark's connections (it did, on this shared machine).
 */
export async function ensureTemplate(): Promise<void> {
  await withServerClient(async (server) => {
    const leftovers = await server.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE 'nexus\\_bench\\_%'`,
    );
    for (const { datname } of leftovers.rows) {
      await server.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
    }
    await server.query(`CREATE DATABASE ${pg.escapeIdentifier(TEMPLATE)}`);
  });
  const template = new pg.Client({ connectionString: databaseUrl(TEMPLATE) });
  await template.connect();
  try {
    await migrate(template);
  } finally {
    await template.end();
  }
}

/** A fresh database cloned from the benchmark template (as `createTestDatabase` does for tests). */
export async function createBenchDatabase(label: string): Promise<TestDatabase> {
  const name = `${PREFIX}${label.replace(/[^a-z0-9]+/g, '_').slice(0, 30)}_${randomBytes(4).toString('hex')}`;
  await withServerClient((client) =>
    client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(TEMPLATE)}`),
  );
  return {
    name,
    url: databaseUrl(name),
    drop: () =>
      withServerClient(async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      }),
  };
}

/**
 * Broker settings for every benchmark: rate limits off (SPEC B.33) and the thread turn limit off
 * (B.83: benchmarks send thousands of aspect messages in one thread; the count is still kept, in
 * the same statement, so the send costs the same, but no note joins the counted deliveries);
 * otherwise the product defaults (pool 10, poll 500 ms) rather than the quicker test settings.
 */
export const BENCH_BROKER_ENV: Record<string, string> = {
  NEXUS_RATE_LIMITS: 'off',
  NEXUS_THREAD_TURN_LIMIT: '0',
  NEXUS_DB_POOL_MAX: '10',
  NEXUS_POLL_MS: '500',
  LOG_LEVEL: 'info',
  // While profiling: NEXUS_BENCH_BROKER_NODE_OPTIONS='--cpu-prof --cpu-prof-dir=/tmp/prof'.
  ...(process.env.NEXUS_BENCH_BROKER_NODE_OPTIONS
    ? { NODE_OPTIONS: process.env.NEXUS_BENCH_BROKER_NODE_OPTIONS }
    : {}),
};

export interface Brokers {
  replicas: BrokerProcess[];
  adminToken: string;
  admin: BrokerClient;
}

/** Everything a benchmark starts, closed in reverse order by `close()`. */
export class Scope {
  private readonly cleanups: (() => Promise<void>)[] = [];

  defer(cleanup: () => Promise<void> | void): void {
    this.cleanups.push(async () => {
      await cleanup();
    });
  }

  async database(label: string): Promise<TestDatabase> {
    const db = await createBenchDatabase(label);
    this.defer(() => db.drop());
    return db;
  }

  /** `count` broker replicas on one database; the first applies nothing (the clone is migrated). */
  async brokers(db: TestDatabase, count: number, env: Record<string, string> = {}): Promise<Brokers> {
    const adminToken = newAdminTokenValue();
    const replicas: BrokerProcess[] = [];
    for (let i = 0; i < count; i++) {
      const replica = await startBrokerProcess({
        databaseUrl: db.url,
        bootstrapToken: adminToken,
        env: { ...BENCH_BROKER_ENV, ...env },
      });
      this.defer(() => replica.stop());
      replicas.push(replica);
    }
    return { replicas, adminToken, admin: adminClient((replicas[0] as BrokerProcess).url, adminToken) };
  }

  /** A pg client on `url`, ended with the scope. */
  async pgClient(url: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url });
    client.on('error', (err) => process.stderr.write(`pg client error: ${err.message}\n`));
    await client.connect();
    this.defer(() => client.end().catch(() => undefined));
    return client;
  }

  /** A baseline server (bench/lib/baseline-server.ts) in its own process, like the broker. */
  async baselineServer(mode: 'broadcast' | 'resume' | 'roster', env: Record<string, string> = {}) {
    const server = await startBaselineServer(mode, env);
    this.defer(() => server.stop());
    return server;
  }

  async close(): Promise<void> {
    for (const cleanup of this.cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (err) {
        process.stderr.write(`clean-up failed: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
  }
}

/** Runs `work` inside a fresh scope and closes it afterwards. */
export async function withScope<T>(work: (scope: Scope) => Promise<T>): Promise<T> {
  const scope = new Scope();
  try {
    return await work(scope);
  } finally {
    await scope.close();
  }
}

export interface BaselineServer {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

const BASELINE_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'baseline-server.ts');

async function startBaselineServer(mode: string, env: Record<string, string>): Promise<BaselineServer> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', BASELINE_SCRIPT, mode], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`baseline ${mode} did not start:\n${output}`)), 60_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening (\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`baseline ${mode} exited with ${code}:\n${output}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid as number,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Resident set size of a process in MB, from /proc/PID/status (VmRSS). */
export function rssMb(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

export const sleep = (msDelay: number) => new Promise<void>((resolve) => setTimeout(resolve, msDelay));

/** Runs `work` over `items` with at most `limit` in flight; resolves with results in order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Database transactions (commits and rollbacks, from pg_stat_database) that `work` caused on
 * `db`: with autocommit, one per statement the broker runs, so a count of round trips. The
 * brokers' background loops (revocation and mailbox polls, health checks) are measured over an idle
 * window first and subtracted. Statistics reach pg_stat_database within about a second, hence the
 * pauses.
 */
export async function countTransactions(db: TestDatabase, work: () => Promise<void>): Promise<number> {
  const read = async () => {
    const n = await withServerClient(async (client) => {
      const result = await client.query<{ n: string }>(
        'SELECT (xact_commit + xact_rollback)::text AS n FROM pg_stat_database WHERE datname = $1',
        [db.name],
      );
      return Number(result.rows[0]?.n ?? Number.NaN);
    });
    return { n, at: performance.now() };
  };
  await sleep(1500);
  const idleStart = await read();
  await sleep(3000);
  const idleEnd = await read();
  const idleRate = (idleEnd.n - idleStart.n) / (idleEnd.at - idleStart.at);
  await work();
  await sleep(1500);
  const end = await read();
  return Math.round(end.n - idleEnd.n - idleRate * (end.at - idleEnd.at));
}
