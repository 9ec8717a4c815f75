/**
 * Which database the homes' state belongs to (B.45). A runtime's `state.json` (the last message id
 * it processed) and its sessions (keyed by thread ids) only mean something against the database
 * that numbered those messages: against another one the runtime would skip new messages whose ids
 * are lower. The identity is `pg_control_system().system_identifier` (fixed at initdb) with the
 * database's oid: databases cloned from one template share the first but not the second, and a
 * database dropped and made again gets a new oid. No migration is needed for it (ADR 0012).
 */
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';

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
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    for (const name of await readdir(homesDir).catch((): string[] => [])) {
      const home = path.join(homesDir, name);
      const moved = await moveAside(home, ['state.json', 'session'], path.join(home, `discarded-${stamp}`));
      if (moved) discarded.push(name);
    }
  }
  await writeFile(file, `${JSON.stringify(current)}\n`);
  return discarded;
}

async function moveAside(home: string, names: string[], target: string): Promise<boolean> {
  let moved = false;
  for (const name of names) {
    const from = path.join(home, name);
    if (!(await stat(from).catch(() => null))) continue;
    await mkdir(target, { recursive: true });
    await rename(from, path.join(target, name));
    moved = true;
  }
  return moved;
}
