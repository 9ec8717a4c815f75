import pg from 'pg';
import type { Logger } from '../../platform/index.js';

/** Anything that runs a query: the pool or a client inside a transaction. */
export type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** A pool tuned for the broker: small, with TCP keepalives so a dead peer is noticed. */
export function createPool(options: {
  url: string;
  max: number;
  logger: Logger;
  applicationName: string;
}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max,
    keepAlive: true,
    keepAliveInitialDelayMillis: 5000,
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30_000,
    application_name: options.applicationName,
  });
  // An idle client whose server went away emits here; without a listener the process would die.
  pool.on('error', (err) => options.logger.warn({ err }, 'idle database connection failed'));
  return pool;
}

/** Runs `work` in one transaction on one client, rolling back on any error. */
export async function withTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  // A checked-out client whose backend is terminated between two statements emits 'error' with
  // no query to fail; unheard, that event would kill the process. The next statement fails anyway.
  const onError = () => {
    broken = true;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch {
      broken = true; // the connection itself failed: do not return it to the pool
    }
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
