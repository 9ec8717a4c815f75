/** Delivery and the `not_connected` failure of a control request exclude each other (B.12). */
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../testing/index.js';
import {
  failUndelivered,
  insertControlRequest,
  markControlDelivered,
  readControlRequest,
} from './control-sql.js';

describe('control request delivery against the not_connected failure', () => {
  let db: TestDatabase;
  let client: pg.Client;
  const request = async () =>
    (await insertControlRequest(client, {
      aspect: 'scout',
      action: 'compact',
      params: {},
      requestedBy: 'op:admin',
    })) as string;
  const noSocket = { code: 'not_connected', message: 'no socket' };

  beforeAll(async () => {
    db = await createTestDatabase('control_sql');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(`INSERT INTO aspects (name, registered_at) VALUES ('scout', now())`);
  });
  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  it('a delivered request is not failed later, and stays pending for its result', async () => {
    const id = await request();
    expect(await markControlDelivered(client, id)).toBe(true);
    expect(await failUndelivered(client, id, noSocket)).toBe(false);
    expect((await readControlRequest(client, id))?.state).toBe('pending');
  });

  it('records nothing for a name that never registered', async () => {
    const none = await insertControlRequest(client, {
      aspect: 'nobody',
      action: 'compact',
      params: {},
      requestedBy: 'op:admin',
    });
    expect(none).toBeNull();
    const { rows } = await client.query(`SELECT 1 FROM control_requests WHERE aspect = 'nobody'`);
    expect(rows).toEqual([]);
  });

  it('a failed request is not delivered later', async () => {
    const id = await request();
    expect(await failUndelivered(client, id, noSocket)).toBe(true);
    expect(await markControlDelivered(client, id)).toBe(false);
    expect(await readControlRequest(client, id)).toMatchObject({ state: 'failed', delivered_at: null });
  });
});
