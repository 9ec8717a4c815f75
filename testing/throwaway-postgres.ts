import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Debian's PostgreSQL 15 server binaries (SPEC B.32: tests run on 15). */
const PG_BIN = '/usr/lib/postgresql/15/bin';

/** A Postgres cluster of one test's own, for scenarios that stop the database (SPEC B.32). */
export interface ThrowawayPostgres {
  port: number;
  /** A URL for `database` on this cluster (user postgres, trust auth). */
  url(database: string): string;
  /** Starts the server and waits until it accepts connections. */
  start(): Promise<void>;
  /** Stops the server (fast shutdown: sessions are terminated) and waits until it is down. */
  stop(): Promise<void>;
  /** Stops the server if it runs and deletes its files. */
  destroy(): Promise<void>;
}

/**
 * Creates and starts a throwaway cluster in a temp directory on a free port. `initdb` and `pg_ctl`
 * refuse to run as root, so they run as the `postgres` OS user, which must be able to reach the
 * directory: it is made world-traversable and handed to that user.
 */
export async function createThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'nexus-pg-'));
  await chmod(root, 0o755);
  await run('chown', ['postgres:postgres', root]);
  const dataDir = path.join(root, 'data');
  const port = await freePort();
  const asPostgres = (binary: string, args: string[]) =>
    run('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, binary), ...args], { cwd: root });

  const options = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c max_connections=50`;
  let running = false;
  const cluster: ThrowawayPostgres = {
    port,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async start() {
      await asPostgres('pg_ctl', [
        '-D',
        dataDir,
        '-l',
        path.join(root, 'server.log'),
        '-o',
        options,
        '-w',
        'start',
      ]);
      running = true;
    },
    async stop() {
      await asPostgres('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
      running = false;
    },
    async destroy() {
      if (running) await cluster.stop().catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    },
  };
  try {
    await asPostgres('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C']);
    await cluster.start();
  } catch (err) {
    await cluster.destroy();
    throw err;
  }
  return cluster;
}

/** A TCP port nothing listens on right now (the kernel picks it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
