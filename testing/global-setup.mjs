// Runs once before the suite (plain JS: Jest loads it without its module mapping). Makes sure the
// migrated template database that every test file clones exists and is current, and drops test
// databases that runs left behind more than an hour ago (kept until then for inspection; those of
// a run going on right now are younger, so concurrent runs never pull databases from each other).
import { existsSync } from 'node:fs';
import pg from 'pg';

const SERVER = process.env.NEXUS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
// NEXUS_TEST_TEMPLATE lets work trees with different migrations share the server without
// rebuilding each other's template.
export const TEMPLATE = process.env.NEXUS_TEST_TEMPLATE ?? 'nexus_template';

export default async function globalSetup() {
  if (!existsSync('dist/broker/db/migrate.js'))
    throw new Error('dist/ is missing: run `npm run build` (npm test does)');
  const { migrate, codeSchemaVersion } = await import('../dist/broker/db/migrate.js');
  const server = new pg.Client({ connectionString: SERVER });
  await server.connect();
  try {
    const leftovers = await server.query(
      `SELECT datname FROM pg_database WHERE datname LIKE 'nexus\\_t\\_%'`,
    );
    const hourAgo = Date.now() / 1000 - 3600;
    for (const { datname } of leftovers.rows) {
      const createdAt = Number(/^nexus_t_(\d+)_/.exec(datname)?.[1] ?? 0);
      if (createdAt < hourAgo)
        await server.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
    }
    // A template migrated by newer code (another branch, a discarded migration) cannot be used:
    // brokers would refuse a schema newer than theirs. Make it again.
    if ((await templateVersion()) > (await codeSchemaVersion())) {
      await server.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(TEMPLATE)} WITH (FORCE)`);
    }
    try {
      await server.query(`CREATE DATABASE ${pg.escapeIdentifier(TEMPLATE)}`);
    } catch (err) {
      if (err.code !== '42P04') throw err; // it exists: migrated in place below
    }
  } finally {
    await server.end();
  }
  const url = new URL(SERVER);
  url.pathname = `/${TEMPLATE}`;
  const template = new pg.Client({ connectionString: url.toString() });
  await template.connect();
  try {
    // Concurrent runs are safe: migrate() serialises on an advisory lock and skips what is applied.
    await migrate(template);
  } finally {
    await template.end();
  }
}

/** The template's schema version, or 0 when it does not exist or has no schema yet. */
async function templateVersion() {
  const url = new URL(SERVER);
  url.pathname = `/${TEMPLATE}`;
  const client = new pg.Client({ connectionString: url.toString() });
  try {
    await client.connect();
    const result = await client.query('SELECT coalesce(max(version), 0) AS version FROM schema_migrations');
    return Number(result.rows[0].version);
  } catch {
    return 0; // no template, or no schema in it yet
  } finally {
    await client.end().catch(() => undefined);
  }
}
