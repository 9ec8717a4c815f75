/**
 * `nexus dev`: the whole system in one process tree (SPEC section 1, B.34, B.45, B.85; ADR 0012).
 * In this process: the broker and the Hand worker pool. As children: the embedded PostgreSQL and
 * one `nexus agent` per aspect home. Start order is Postgres, migrations, broker, tokens and
 * credentials, worker pool, runtimes; Ctrl-C (SIGINT), SIGTERM or SIGHUP (a closed terminal)
 * stops them in the reverse order, Postgres last with a fast shutdown. A failure half-way stops
 * what was started; so does PostgreSQL exiting on its own. After a signal, whatever goes wrong
 * is part of the interruption (exit 0, `stopped`). If the process dies without that ordered
 * stop, an exit handler still signals the children (`exit-guards.ts`).
 *
 * Progress goes to stderr (`nexus dev: …`); the URL, the admin token path, one status line per
 * aspect and `ready` go to stdout.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TokenRefusals, createLogger, createMetricsRegistry } from '../../platform/index.js';
import { BrokerClient } from '../../client/index.js';
import { loadBrokerConfig } from '../../broker/config.js';
import { startBroker } from '../../broker/broker.js';
import { startWorker } from '../../runtime/worker/worker.js';
import { createPrometheusMetrics } from '../../runtime/observability/prometheus-metrics.js';
import { devPaths, shown, type DevPaths } from './dev-paths.js';
import { acquirePidLock } from './pid-lock.js';
import { adminTokenFile, secretKeyFile } from './secret-files.js';
import { discoverTeam, readMember, type TeamMember } from './team.js';
import { watchAgents } from './agents-watch.js';
import { migrateDevDatabase, openDevDatabase, type DevDatabase } from './dev-database.js';
import { ignoreClosedOutput, stopChildrenAtExit } from './exit-guards.js';
import { readDatabaseIdentity, reconcileHomes } from './database-identity.js';
import { checkPortsFree, type MetricsPortChoice } from './ports.js';
import { grantAnthropicKey, mintTeamTokens } from './provisioning.js';
import { RuntimeChild } from './runtime-child.js';
import { recordRuntimes, stopLeftoverRuntimes } from './leftover-runtimes.js';
import { openSupervisorMetrics } from './metrics-server.js';
import { statusLine } from './status-lines.js';

export interface DevOptions {
  agents: string;
  data: string;
  port: number;
  /** The supervisor's metrics port: a number (0 = off) or `auto`; `explicit` when the user chose it. */
  metricsPort: MetricsPortChoice;
  /** Whether `nexus agent` takes `--metrics-port` (B.85), so runtimes get `--metrics-port auto`. */
  runtimeMetricsFlag: boolean;
  env: NodeJS.ProcessEnv;
}

/** The Hand worker pool's slots: Hands of the whole team run on it. */
const WORKER_SLOTS = 4;
/** How long `ready` waits for the runtimes to register before printing their state anyway. */
const REGISTER_WAIT_MS = 90_000;
const CLI_ENTRY = fileURLToPath(new URL('../main.js', import.meta.url));

/** Settings a runtime child must not inherit: it gets its own token and no database or key. */
const WITHHELD_FROM_RUNTIMES = [
  'DATABASE_URL',
  'ANTHROPIC_API_KEY',
  'NEXUS_TOKEN',
  'NEXUS_TOKEN_FILE',
  'NEXUS_BOOTSTRAP_TOKEN',
  'NEXUS_BOOTSTRAP_TOKEN_FILE',
  'NEXUS_SECRET_KEY',
  'NEXUS_SECRET_KEY_FILE',
  'METRICS_PORT',
  'PORT',
];

class Interrupted extends Error {}

/** A failure already told on stderr in one line: the process exits 1 without another. */
export class ReportedFailure extends Error {}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

const startedAt = Date.now();
/** A progress line; NEXUS_DEV_DEBUG=1 adds the milliseconds since start (for profiling the start). */
const say = (line: string) =>
  process.stderr.write(
    `nexus dev: ${line}${process.env.NEXUS_DEV_DEBUG ? ` [+${Date.now() - startedAt} ms]` : ''}\n`,
  );
const print = (line: string) => process.stdout.write(`${line}\n`);

/** Runs until SIGINT, SIGTERM or SIGHUP, then stops everything; rejects when the start fails. */
export async function runDev(options: DevOptions): Promise<void> {
  const stops: { what: string; stop: () => Promise<void> }[] = [];
  const children: RuntimeChild[] = [];
  let database: DevDatabase | null = null;
  let signalled: string | null = null;
  const aborter = new AbortController();
  let wake: () => void = () => undefined;
  const interruption = new Promise<void>((resolve) => (wake = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      say('stopping now: runtimes killed');
      for (const child of children) child.kill();
      return;
    }
    signalled = signal;
    say(`stopping (${signal}); Ctrl-C again to kill the runtimes at once`);
    aborter.abort();
    wake();
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  ignoreClosedOutput();
  const exitGuard = stopChildrenAtExit({
    runtimes: () => children.flatMap((c) => (c.pid === null ? [] : [c.pid])),
    postgres: () => database?.pid ?? null,
  });
  const check = () => {
    if (signalled) throw new Interrupted();
  };
  /** Waits for `work`, or throws Interrupted at a signal (what was started is stopped below). */
  const unlessInterrupted = <T>(work: Promise<T>) =>
    Promise.race([work, interruption.then(() => Promise.reject(new Interrupted()))]);

  const paths = devPaths(options.data);
  const streams: WriteStream[] = [];
  let failure: unknown = null;
  try {
    await mkdir(paths.logs, { recursive: true });
    const lock = await acquirePidLock(paths.pidFile, paths.data);
    stops.push({ what: 'pid file', stop: lock.release });
    if (lock.replacedStale)
      say('the previous nexus dev on this data did not stop cleanly; clearing up after it');
    await stopLeftoverRuntimes(paths.childrenFile, say);
    const team = await discoverTeam(path.resolve(options.agents));
    if (team.length === 0)
      say(`no aspect homes in ${shown(path.resolve(options.agents))}: running without aspects`);
    const adminToken = await adminTokenFile(paths.adminToken);
    const secretKey = options.env.NEXUS_SECRET_KEY ? undefined : await secretKeyFile(paths.secretKey);
    const host = options.env.HOST ?? '127.0.0.1';
    await checkPortsFree(options.port, host, options.metricsPort);

    // Not raced with a signal: the server must be registered for stopping before the start goes
    // on. A signal gives the start up inside (the server stopped again, nothing left).
    database = await openDevDatabase(paths, options.env, say, aborter.signal);
    stops.push({ what: 'PostgreSQL', stop: database.stop });
    void database.unexpectedExit.then((how) => {
      if (signalled || failure) return;
      say(
        `PostgreSQL exited unexpectedly (${how}); see ${shown(path.join(paths.logs, 'postgres.log'))}: stopping everything`,
      );
      failure = new ReportedFailure(`PostgreSQL exited unexpectedly (${how})`);
      wake();
    });
    check();
    await migrateDevDatabase(database.url, say);
    check();
    const discarded = await reconcileHomes(
      paths.databaseIdentity,
      paths.homes,
      await readDatabaseIdentity(database.url),
    );
    if (discarded.length > 0)
      say(
        `the database is not the one the homes last ran against: the state and sessions of ${discarded.join(', ')} were moved to discarded-*/ in their homes`,
      );

    const brokerLog = logStream(paths, 'broker', streams);
    const config = loadBrokerConfig(
      {
        ...options.env,
        DATABASE_URL: database.url,
        NEXUS_BOOTSTRAP_TOKEN: adminToken,
        NEXUS_BOOTSTRAP_TOKEN_FILE: undefined,
        HOST: host,
        ...(secretKey ? { NEXUS_SECRET_KEY: secretKey, NEXUS_SECRET_KEY_FILE: undefined } : {}),
      },
      { port: options.port, migrate: false },
    );
    const broker = await startBroker(config, createLogger({ name: 'broker', destination: brokerLog }));
    stops.push({ what: 'broker', stop: broker.stop });
    say(`broker on ${broker.url} (log: ${shown(path.join(paths.logs, 'broker.log'))})`);
    check();

    const admin = new BrokerClient({ url: broker.url, token: adminToken });
    const tokens = await mintTeamTokens(admin, team, paths.tokens);
    const anthropicKey = options.env.ANTHROPIC_API_KEY;
    if (anthropicKey) {
      await grantAnthropicKey(admin, anthropicKey, team);
      say('ANTHROPIC_API_KEY stored as the anthropic credential and granted to every aspect');
    }

    // The pool's series (B.85) are served by the supervisor's port from this registry.
    const workerRegistry = createMetricsRegistry({ defaults: false });
    const workerToken = {
      read: () => tokens.worker,
      description: "nexus dev's worker token",
      fromFile: false,
    };
    const worker = await startWorker({
      url: broker.url,
      token: () => tokens.worker,
      workerId: `nexus-dev-${process.pid}`,
      slots: WORKER_SLOTS,
      logger: createLogger({ name: 'worker', destination: logStream(paths, 'worker', streams) }),
      renewS: 10,
      leaseS: 30,
      graceS: 5,
      refusals: new TokenRefusals(workerToken, 0),
      // The token was minted moments ago: a refusal means the broker's state is not what this
      // start wrote, which no retry mends.
      onTokenRefused: (line) => {
        failure = new Error(`the worker pool gave up: ${line}`);
        wake();
      },
      metrics: createPrometheusMetrics(workerRegistry),
    });
    stops.push({ what: 'worker pool', stop: worker.stop });
    say(`Hand worker pool: ${WORKER_SLOTS} slots in this process`);
    check();

    await mkdir(paths.homes, { recursive: true });
    const record = () =>
      recordRuntimes(
        paths.childrenFile,
        children.flatMap((c, i) =>
          c.pid === null ? [] : [{ pid: c.pid, home: homeOf(paths, team[i] as TeamMember) }],
        ),
      );
    for (const member of team) {
      const child = new RuntimeChild({
        name: member.name,
        command: process.execPath,
        args: [
          CLI_ENTRY,
          'agent',
          homeOf(paths, member),
          '--config-from',
          member.source,
          ...(options.runtimeMetricsFlag ? ['--metrics-port', 'auto'] : []),
        ],
        env: runtimeEnv(options.env, broker.url, tokens.files.get(member.name) as string),
        logFile: path.join(paths.logs, `${member.name}.log`),
        say,
        onSpawn: record,
      });
      children.push(child);
    }
    stops.push({
      what: 'runtimes',
      stop: async () => {
        await Promise.all(children.map((c) => c.stop()));
        recordRuntimes(paths.childrenFile, []);
      },
    });
    if (team.length > 0) say(`starting ${team.length} runtimes: ${team.map((m) => m.name).join(', ')}`);
    for (const child of children) child.start();
    await unlessInterrupted(
      Promise.race([
        Promise.all(children.map((c) => c.settled())),
        new Promise((r) => setTimeout(r, REGISTER_WAIT_MS).unref()),
      ]),
    );

    let ready = false;
    const metrics = await openSupervisorMetrics(options.metricsPort, say, {
      expositions: () => [`${broker.url}/metrics`, () => workerRegistry.metrics()],
      targets: () =>
        children.flatMap((c, i) =>
          c.facts.metricsUrl ? [{ aspect: (team[i] as TeamMember).name, url: c.facts.metricsUrl }] : [],
        ),
      ready: () => ready,
    });
    if (metrics) stops.push({ what: 'metrics', stop: metrics.close });

    print(`Nexus is running at ${broker.url}`);
    print(`admin token: ${shown(paths.adminToken)} (client commands read it from there by default)`);
    if (metrics) print(`metrics: ${metrics.url}/metrics (runtimes: ${metrics.url}/metrics/targets)`);
    print(`logs: ${shown(paths.logs)}/`);
    const keyGiven = Boolean(anthropicKey);
    for (const [i, child] of children.entries())
      print(
        statusLine({
          config: (team[i] as TeamMember).config,
          state: child.state,
          facts: child.facts,
          keyGiven,
        }),
      );
    const unwatch = watchAgents(team, (member, file) => {
      const i = team.findIndex((m) => m.name === member.name);
      reloads[i] = (reloads[i] ?? Promise.resolve()).then(() =>
        reloadMember(member, file, children[i] as RuntimeChild, (fresh) => (team[i] = fresh)),
      );
    });
    const reloads: Promise<void>[] = [];
    stops.push({
      what: 'watcher',
      stop: async () => {
        unwatch();
        await Promise.all(reloads);
      },
    });
    ready = true;
    print('ready');
    if (process.env.NEXUS_DEV_DEBUG) say('ready');
    say('Ctrl-C stops everything');
    await interruption;
  } catch (err) {
    // After a signal, a step cut short (initdb, a connection) is part of the interruption.
    if (!(err instanceof Interrupted) && !signalled && !failure) failure = err;
  } finally {
    if (failure && !(failure instanceof ReportedFailure) && stops.length > 1)
      say('start failed; stopping what was started');
    for (const { what, stop } of stops.reverse()) {
      try {
        await stop();
        if (process.env.NEXUS_DEV_DEBUG) say(`${what} stopped`);
      } catch (err) {
        say(`stopping the ${what} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    await Promise.all(streams.map((s) => new Promise((resolve) => s.end(resolve))));
    exitGuard.disarm();
    for (const signal of SIGNALS) process.off(signal, onSignal);
  }
  if (failure) throw failure;
  say('stopped');
}

/**
 * A member's files changed: checked, then its runtime restarted to copy them (B.31). A bad file,
 * or a new name or role (which would need new tokens), leaves the runtime as it is.
 */
async function reloadMember(
  member: TeamMember,
  file: string,
  child: RuntimeChild,
  replace: (fresh: TeamMember) => void,
): Promise<void> {
  if (child.ended) return;
  let fresh: TeamMember;
  try {
    fresh = await readMember(member.source);
  } catch (err) {
    return void say(
      `${member.name}: ${file} changed but ${(err as Error).message}; still running on the previous files`,
    );
  }
  if (fresh.name !== member.name || fresh.config.role !== member.config.role)
    return void say(`${member.name}: ${file} changed its name or role; restart nexus dev to apply that`);
  if (child.ended) return; // stopped meanwhile
  replace(fresh);
  say(`${member.name}: ${file} changed; restarting its runtime`);
  await child.restart();
}

function homeOf(paths: DevPaths, member: TeamMember): string {
  return path.join(paths.homes, member.name);
}

function logStream(paths: DevPaths, name: string, streams: WriteStream[]): WriteStream {
  const stream = createWriteStream(path.join(paths.logs, `${name}.log`), { flags: 'a' });
  streams.push(stream);
  return stream;
}

function runtimeEnv(env: NodeJS.ProcessEnv, url: string, tokenFile: string): NodeJS.ProcessEnv {
  const child: NodeJS.ProcessEnv = { ...env };
  for (const name of WITHHELD_FROM_RUNTIMES) delete child[name];
  return { ...child, NEXUS_URL: url, NEXUS_TOKEN_FILE: tokenFile, LOG_LEVEL: env.LOG_LEVEL ?? 'info' };
}
