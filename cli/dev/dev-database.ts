/**
 * The database of `nexus dev`: `DATABASE_URL` when set, else the embedded PostgreSQL in DATA
 * (B.45), created on the first start; then the migrations (printed as they apply).
 */
import pg from 'pg';
import { ConfigError } from '../../platform/index.js';
import { ensureDatabase, migrate } from '../../broker/db/migrate.js';
import { initCluster, startServer, stopLeftoverServer } from './embedded-postgres.js';
import { INSTALL_HINT, locateServerBinaries, prepareClusterLayout } from './cluster-location.js';
import { serverUser } from './server-user.js';
import { postgresPasswordFile } from './secret-files.js';
import { shown, type DevPaths } from './dev-paths.js';

export interface DevDatabase {
  url: string;
  /** Stops the embedded server (fast shutdown); nothing for `DATABASE_URL`. */
  stop(): Promise<void>;
}

export async function openDevDatabase(
  paths: DevPaths,
  env: NodeJS.ProcessEnv,
  say: (line: string) => void,
): Promise<DevDatabase> {
  if (env.DATABASE_URL) {
    say(`database: DATABASE_URL (${describeUrl(env.DATABASE_URL)})`);
    return { url: env.DATABASE_URL, stop: async () => undefined };
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
  if (layout.fresh) {
    say(`${version}: creating a cluster in ${where}`);
    await initCluster(layout, user, password);
  } else await stopLeftoverServer(layout, say);
  const server = await startServer(layout, user, password, `${paths.logs}/postgres.log`);
  say(`${version} on 127.0.0.1:${server.port}, cluster in ${where}`);
  return { url: server.url, stop: () => server.stop() };
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
