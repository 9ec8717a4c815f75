/**
 * A TCP proxy in front of the test Postgres that can cut one kind of connection and keep it from
 * coming back, while every other connection through it works. A connection is known by the
 * `application_name` of its startup message (plain text: the tests use no TLS). A broker replica
 * given the proxy's URL, with its LISTEN connection (`nexus-broker-listen`) cut, really misses
 * every NOTIFY while its pool keeps serving requests: the fault B.1 and B.89 say the poll repairs.
 */
import net from 'node:net';
import { TEST_SERVER_URL } from './postgres.js';

export interface PostgresProxy {
  /** A URL for `database` through the proxy. */
  url(database: string): string;
  /** How many connections named `applicationName` are open through the proxy now. */
  open(applicationName: string): number;
  /** Closes the connections named `applicationName` and refuses new ones until `restore`. */
  cut(applicationName: string): void;
  restore(applicationName: string): void;
  /** How many connections named `applicationName` were refused while cut. */
  refused(applicationName: string): number;
  close(): Promise<void>;
}

const SSL_REQUEST_CODE = 80877103;

/** The `application_name` in a startup message, or '' when it names none. */
function applicationNameOf(startup: Buffer): string {
  // int32 length, int32 protocol version, then key\0value\0 pairs ending in \0.
  const fields = startup.subarray(8).toString('utf8').split('\0');
  const index = fields.indexOf('application_name');
  return index >= 0 && index % 2 === 0 ? (fields[index + 1] ?? '') : '';
}

export async function startPostgresProxy(server = TEST_SERVER_URL): Promise<PostgresProxy> {
  const target = new URL(server);
  const links = new Set<{ name: string; client: net.Socket; upstream: net.Socket }>();
  const cut = new Set<string>();
  const refusals = new Map<string, number>();

  const proxy = net.createServer((client) => {
    let pending = Buffer.alloc(0);
    client.on('error', () => undefined);
    const onData = (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (pending.length < 8) return;
      const length = pending.readInt32BE(0);
      if (length === 8 && pending.readInt32BE(4) === SSL_REQUEST_CODE) {
        pending = pending.subarray(8);
        client.write('N'); // no TLS: the client goes on in plain text
        return;
      }
      if (pending.length < length) return;
      client.off('data', onData);
      const name = applicationNameOf(pending.subarray(0, length));
      if (cut.has(name)) {
        refusals.set(name, (refusals.get(name) ?? 0) + 1);
        client.destroy();
        return;
      }
      const upstream = net.connect(Number(target.port || 5432), target.hostname);
      const link = { name, client, upstream };
      links.add(link);
      const end = () => {
        links.delete(link);
        client.destroy();
        upstream.destroy();
      };
      upstream.on('error', end);
      upstream.on('close', end);
      client.on('close', end);
      upstream.write(pending);
      client.pipe(upstream);
      upstream.pipe(client);
    };
    client.on('data', onData);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as net.AddressInfo).port;

  return {
    url(database) {
      const url = new URL(server);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      url.pathname = `/${database}`;
      return url.toString();
    },
    open: (name) => [...links].filter((l) => l.name === name).length,
    cut(name) {
      cut.add(name);
      for (const link of [...links]) if (link.name === name) link.client.destroy();
    },
    restore: (name) => void cut.delete(name),
    refused: (name) => refusals.get(name) ?? 0,
    async close() {
      for (const link of [...links]) {
        link.client.destroy();
        link.upstream.destroy();
      }
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
