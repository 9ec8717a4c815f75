import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The shared test server (SPEC B.32): the machine's Postgres on 127.0.0.1:5432. */
export const TEST_SERVER_URL = process.env.NEXUS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Made by `global-setup.mjs` before the suite runs (`NEXUS_TEST_TEMPLATE` names another). */
const TEMPLATE = process.env.NEXUS_TEST_TEMPLATE ?? 'nexus_template';

/** A URL for `database` on the test server. */
export function databaseUrl(database: string, server = TEST_SERVER_URL): string {
  const url = new URL(server);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function withServerClient<T>(
  work: (client: pg.Client) => Promise<T>,
  server = TEST_SERVER_URL,
): Promise<T> {
  const client = new pg.Client({ connectionString: server });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/**
 * A fresh database for one test file, cloned from the migrated template (NOTIFY and advisory
 * locks are per database, so a schema per test would not isolate them).
 */
export async function createTestDatabase(label = 'db'): Promise<TestDatabase> {
  const slug = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 30);
  // The creation time in the name lets the global set-up drop only old leftovers, never a
  // database that a concurrent run is using.
  const name = `nexus_t_${Math.floor(Date.now() / 1000)}_${slug}_${randomBytes(4).toString('hex')}`;
  await withServerClient(async (client) => {
    // CREATE DATABASE … TEMPLATE fails while anyone is connected to the template; retry briefly.
    for (let attempt = 0; ; attempt++) {
      try {
        await client.query(
          `CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(TEMPLATE)}`,
        );
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== '55006' || attempt > 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });
  return {
    name,
    url: databaseUrl(name),
    drop: () =>
      withServerClient(async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      }),
  };
}
