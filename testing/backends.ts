import pg from 'pg';
import { TEST_SERVER_URL } from './postgres.js';

/** One session on the test server that lists and terminates the backends of one database. */
export interface BackendControl {
  /** Backend pids connected to the database whose application_name matches the LIKE `pattern`. */
  pids(pattern: string): Promise<number[]>;
  /** `pg_terminate_backend` (the client sees SQLSTATE 57P01); resolves with how many went. */
  terminate(pids: number[]): Promise<number>;
  close(): Promise<void>;
}

/** Opens a BackendControl for `database` (a test database on the shared test server). */
export async function openBackendControl(
  database: string,
  server = TEST_SERVER_URL,
): Promise<BackendControl> {
  const client = new pg.Client({ connectionString: server, application_name: 'nexus-test-control' });
  await client.connect();
  return {
    async pids(pattern) {
      const result = await client.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE $2 ORDER BY pid`,
        [database, pattern],
      );
      return result.rows.map((r) => r.pid);
    },
    async terminate(pids) {
      if (pids.length === 0) return 0;
      const result = await client.query<{ ok: boolean }>(
        'SELECT pg_terminate_backend(pid) AS ok FROM unnest($1::int[]) AS pid',
        [pids],
      );
      return result.rows.filter((r) => r.ok).length;
    },
    close: () => client.end(),
  };
}
