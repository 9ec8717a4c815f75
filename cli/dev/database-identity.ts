/**
 * Which database the homes' state belongs to (B.45). A runtime's `state.json` (the last message id
 * it processed) and its sessions (keyed by thread ids) only mean something against the database
 * that numbered those messages: against another one the runtime would skip new messages whose ids
 * are lower. The identity is `pg_control_system().system_identifier` (fixed at initdb) with the
 * database's oid: databases cloned from one template share the first but not the second, and a
 * database dropped and made again gets a new oid (ADR 0012). Each runtime also checks the broker's
 * `nexus_instance` at registration (B.45); this check covers what that one cannot tell apart:
 * databases cloned from one template share their `nexus_instance` row.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { discardDatabaseState } from '../../runtime/home/state.js';

export interface DatabaseIdentity {
  system_identifier: string;
  database_oid: string;
  database: string;
}

export async function readDatabaseIdentity(url: string): Promise<DatabaseIdentity> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ system_identifier: string; oid: string; datname: string }>(
      `SELECT (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier,
              d.oid::text AS oid, d.datname
         FROM pg_database d WHERE d.datname = current_database()`,
    );
    const row = rows[0] as { system_identifier: string; oid: string; datname: string };
    return { system_identifier: row.system_identifier, database_oid: row.oid, database: row.datname };
  } finally {
    await client.end();
  }
}

const same = (a: DatabaseIdentity, b: DatabaseIdentity) =>
  a.system_identifier === b.system_identifier && a.database_oid === b.database_oid;

/**
 * Records `current` in `file`. When the file names another database, each home's `state.json` and
 * `session/` move to `discarded-<time>/` inside the home (kept, not deleted) and the names of the
 * homes affected are returned, for a warning.
 */
export async function reconcileHomes(
  file: string,
  homesDir: string,
  current: DatabaseIdentity,
): Promise<string[]> {
  const recorded = await readFile(file, 'utf8')
    .then((text) => JSON.parse(text) as DatabaseIdentity)
    .catch(() => null);
  const discarded: string[] = [];
  if (recorded && !same(recorded, current)) {
    for (const name of await readdir(homesDir).catch((): string[] => [])) {
      if ((await discardDatabaseState(path.join(homesDir, name))) !== null) discarded.push(name);
    }
  }
  await writeFile(file, `${JSON.stringify(current)}\n`);
  return discarded;
}
