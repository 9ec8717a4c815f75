// Runs once before the suite (plain JS: Jest loads it without its module mapping). Re-creates the
// migrated template database every test file clones, and drops databases earlier runs left behind
// (kept until now for inspection).
import { existsSync } from 'node:fs';
import pg from 'pg';

const SERVER = process.env.NEXUS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEMPLATE = 'nexus_template';

export default async function globalSetup() {
  if (!existsSync('dist/broker/db/migrate.js'))
    throw new Error('dist/ is missing: run `npm run build` (npm test does)');
  const { migrate } = await import('../dist/broker/db/migrate.js');
  const server = new pg.Client({ connectionString: SERVER });
  await server.connect();
  try {
    const leftovers = await server.query(
      `SELECT datname FROM pg_database WHERE datname LIKE 'nexus\\_t\\_%' OR datname = $1`,
      [TEMPLATE],
    );
    for (const { datname } of leftovers.rows) {
      await server.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
    }
    await server.query(`CREATE DATABASE ${pg.escapeIdentifier(TEMPLATE)}`);
  } finally {
    await server.end();
  }
  const url = new URL(SERVER);
  url.pathname = `/${TEMPLATE}`;
  const template = new pg.Client({ connectionString: url.toString() });
  await template.connect();
  try {
    await migrate(template);
  } finally {
    await template.end();
  }
}
