/** The vacuum duty's query: it vacuums hand_queue / hand_running only once they churned. */
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../testing/index.js';
import { vacuumChurnedTables } from './lease-sql.js';

describe('vacuumChurnedTables', () => {
  let db: TestDatabase;
  let client: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase('hand_vacuum');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  const deadRows = async (table: string) => {
    const { rows } = await client.query<{ n: string }>(
      'SELECT n_dead_tup AS n FROM pg_stat_user_tables WHERE relname = $1',
      [table],
    );
    return Number(rows[0]?.n);
  };

  it('leaves tables below the threshold alone and vacuums the one that churned', async () => {
    await client.query(
      `INSERT INTO hand_queue (dispatch_id, dispatcher, target, hand)
       SELECT g, 'a', 'x', 'h' FROM generate_series(1, 600) g`,
    );
    await client.query('DELETE FROM hand_queue');
    // Statistics reach the shared counters when a backend flushes them; force it for this one.
    await client.query('SELECT pg_stat_force_next_flush()');
    await client.query('SELECT 1');
    expect(await deadRows('hand_queue')).toBeGreaterThanOrEqual(600);

    expect(await vacuumChurnedTables(client, 1000)).toEqual([]);
    expect(await vacuumChurnedTables(client, 500)).toEqual(['hand_queue']);
    expect(await deadRows('hand_queue')).toBe(0);
    expect(await vacuumChurnedTables(client, 500)).toEqual([]);
  });
});
