/**
 * The database of `nexus dev`: `DATABASE_URL` when set, else the embedded PostgreSQL in DATA
 * (B.45), created on the first start; then the migrations (printed as they apply). A cluster that
 * refuses the password in DATA (DATA deleted but not a cluster living outside it) fails at once,
 * naming the folder to delete.
 */
import pg from 'pg';
import { ConfigError } from '../../platform/index.js';
import { ensureDatabase, migrate } from '../../broker/db/migrate.js';
import {
  PasswordRefused,
  StartAborted,
  initCluster,
  startServer,
  stopLeftoverServer,
} from './embedded-postgres.js';
import { INSTALL_HINT, locateServerBinaries, prepareClusterLayout } from './cluster-location.js';
import { serverUser } from './server-user.js';
import { postgresPasswordFile } from './secret-files.js';
import { shown, type DevPaths } from './dev-paths.js';

export interface DevDatabase {
  url: string;
  /** The embedded server's pid while it runs; null for `DATABASE_URL` and once it exited. */
  readonly pid: number | null;
  /** Resolves, with how, when the embedded server exits without stop() asking; never otherwise. */
  unexpectedExit: Promise<string>;
  /** Stops the embedded server (fast shutdown); nothing for `DATABASE_URL`. */
  stop(): Promise<void>;
}

/** How long a connection to `DATABASE_URL` may take before the start fails with a line. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * The database, started or reached. `signal` gives up a start of the embedded server that has
 * not finished (StartAborted, nothing left running); initdb, once begun, is let finish.
 */
export async function openDevDatabase(
  paths: DevPaths,
  env: NodeJS.ProcessEnv,
  say: (line: string) => void,
  signal?: AbortSignal,
): Promise<DevDatabase> {
  if (env.DATABASE_URL) {
    say(`database: DATABASE_URL (${describeUrl(env.DATABASE_URL)})`);
    await Promise.race([probe(env.DATABASE_URL), aborted(signal)]);
    return {
      url: env.DATABASE_URL,
      pid: null,
      unexpectedExit: new Promise(() => undefined),
      stop: async () => undefined,
    };
  }
  const binaries = await locateServerBinaries();
  if (!binaries) throw new ConfigError(INSTALL_HINT);
  const user = serverUser();
  const layout = await prepareClusterLayout(paths.data, paths.cluster, user, binaries);
  const where = layout.outsideData
    ? `${layout.root} (the postgres OS user cannot reach ${shown(paths.data)})`
    : shown(layout.root);
  const password = await postgresPasswordFile(paths.postgresPassword);
  const version = `PostgreSQL ${/^\d+\.\d+/.exec(binaries.version)?.[0] ?? binaries.version}`;
  if (signal?.aborted) throw new StartAborted('interrupted before PostgreSQL started');
  if (layout.fresh) {
    say(`${version}: creating a cluster in ${where}`);
    await initCluster(layout, user, password);
  } else await stopLeftoverServer(layout, say);
  if (signal?.aborted) throw new StartAborted('interrupted before PostgreSQL started');
  let server;
  try {
    server = await startServer(layout, user, password, `${paths.logs}/postgres.log`, signal);
  } catch (err) {
    if (!(err instanceof PasswordRefused)) throw err;
    throw new ConfigError(
      `PostgreSQL refused the password in ${shown(paths.postgresPassword)}: the cluster in ${shown(layout.root)} was made with another one (DATA was deleted but not the cluster, or the password file was replaced); delete ${shown(layout.root)} to start from nothing`,
    );
  }
  say(`${version} on 127.0.0.1:${server.port}, cluster in ${where}`);
  return server;
}

/** Rejects with StartAborted when `signal` fires; never settles otherwise. */
function aborted(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_resolve, reject) => {
    const abort = () => reject(new StartAborted('interrupted while connecting to DATABASE_URL'));
    if (signal?.aborted) abort();
    else signal?.addEventListener('abort', abort, { once: true });
  });
}

/**
 * Connects once to `url`'s server (its `postgres` database, as ensureDatabase does) within
 * CONNECT_TIMEOUT_MS: an address that never answers fails with a line instead of the TCP timeout.
 */
async function probe(url: string): Promise<void> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({
    connectionString: admin.toString(),
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError(
      /timeout/i.test(reason)
        ? `DATABASE_URL (${describeUrl(url)}) did not answer within ${CONNECT_TIMEOUT_MS / 1000} s`
        : `could not connect to DATABASE_URL (${describeUrl(url)}): ${reason}`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Host, port and database of a URL, never its password. */
function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
  } catch {
    throw new ConfigError('DATABASE_URL is not a valid URL');
  }
}

export async function migrateDevDatabase(url: string, say: (line: string) => void): Promise<void> {
  await ensureDatabase(url);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await migrate(client);
    say(
      result.applied.length > 0
        ? `migrations applied: ${versionList(result.applied)} (schema version ${result.version})`
        : `schema is current (version ${result.version})`,
    );
  } finally {
    await client.end();
  }
}

/** `1–15` for a run of versions, `14, 15` for two. */
function versionList(versions: number[]): string {
  const first = versions[0] as number;
  const last = versions.at(-1) as number;
  const contiguous = versions.length > 2 && last - first === versions.length - 1;
  return contiguous ? `${first}–${last}` : versions.join(', ');
}
