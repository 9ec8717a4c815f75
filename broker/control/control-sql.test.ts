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
  const request = () =>
    insertControlRequest(client, { aspect: 'scout', action: 'compact', params: {}, requestedBy: 'op:admin' });
  const noSocket = { code: 'not_connected', message: 'no socket' };

  beforeAll(async () => {
    db = await createTestDatabase('control_sql');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
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

  it('a failed request is not delivered later', async () => {
    const id = await request();
    expect(await failUndelivered(client, id, noSocket)).toBe(true);
    expect(await markControlDelivered(client, id)).toBe(false);
    expect(await readControlRequest(client, id)).toMatchObject({ state: 'failed', delivered_at: null });
  });
});
