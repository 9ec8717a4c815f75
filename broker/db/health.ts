/**
 * Watches the database: reachable or not, and whether its schema matches this code. `/readyz`
 * reads it, and a transition to unreachable tells the socket hub to close sockets with 1013.
 */
import pg from 'pg';
import type { Logger } from '../../platform/index.js';
import type { Queryable } from './pool.js';
import { classifyDatabaseError } from './retry.js';

export type DatabaseState =
  { reachable: false; reason: string } | { reachable: true; schemaVersion: number; problem: string | null };

export class DatabaseHealth {
  private state: DatabaseState = { reachable: false, reason: 'not checked yet' };
  private timer: NodeJS.Timeout | null = null;
  private readonly changeListeners: ((reachable: boolean) => void)[] = [];

  private readonly intervalMs: number;
  private readonly databaseUrl: string | undefined;

  /**
   * `db` is the pool checked every `intervalMs`; with `databaseUrl`, a connection failure there is
   * confirmed on a connection of the check's own before the database counts as unreachable.
   */
  constructor(
    private readonly db: Queryable,
    private readonly codeVersion: number,
    private readonly logger: Logger,
    options: { intervalMs?: number; databaseUrl?: string } = {},
  ) {
    this.intervalMs = options.intervalMs ?? 1000;
    this.databaseUrl = options.databaseUrl;
  }

  get current(): DatabaseState {
    return this.state;
  }

  get ready(): boolean {
    return this.state.reachable && this.state.problem === null;
  }

  onChange(listener: (reachable: boolean) => void): void {
    this.changeListeners.push(listener);
  }

  /** Checks now; also called by request paths that saw a connection failure. */
  async check(): Promise<DatabaseState> {
    const before = this.state.reachable;
    let failure: unknown;
    try {
      // A pooled connection that died (pg_terminate_backend, a proxy restart) is not the database
      // being away, and the pool may hold more such connections it has not noticed yet. So the
      // failure is confirmed on a new connection: only if that fails too is the database
      // unreachable, which closes every socket of this replica (1013).
      const version = await readSchemaVersion(this.db).catch((err: unknown) => {
        if (classifyDatabaseError(err) !== 'unavailable' || !this.databaseUrl) throw err;
        return readSchemaVersionOnOwnConnection(this.databaseUrl);
      });
      const problem =
        version > this.codeVersion
          ? `database schema ${version} is newer than this broker (${this.codeVersion})`
          : version < this.codeVersion
            ? `database schema ${version} is older than this broker (${this.codeVersion}); run nexus migrate`
            : null;
      this.state = { reachable: true, schemaVersion: version, problem };
    } catch (err) {
      failure = err;
      const code = (err as { code?: string }).code;
      const reason = code === '42P01' ? 'database has no schema; run nexus migrate' : 'database unreachable';
      this.state =
        code === '42P01'
          ? { reachable: true, schemaVersion: 0, problem: reason }
          : { reachable: false, reason };
    }
    if (before !== this.state.reachable) {
      // The error says why (refused, timed out, terminated), which an operator needs first.
      this.logger.info({ reachable: this.state.reachable, err: failure }, 'database reachability changed');
      for (const listener of this.changeListeners) listener(this.state.reachable);
    }
    return this.state;
  }

  start(): void {
    const tick = async () => {
      await this.check();
      if (this.timer) this.timer = setTimeout(tick, this.intervalMs);
    };
    this.timer = setTimeout(tick, 0);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

async function readSchemaVersion(db: Queryable): Promise<number> {
  const result = await db.query<{ version: number | null }>(
    'SELECT max(version) AS version FROM schema_migrations',
  );
  return result.rows[0]?.version ?? 0;
}

/** The schema version read on a connection opened for it and closed after. */
async function readSchemaVersionOnOwnConnection(url: string): Promise<number> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 3000,
    application_name: 'nexus-broker-health',
  });
  client.on('error', () => undefined); // a failure surfaces through connect() or query()
  try {
    await client.connect();
    return await readSchemaVersion(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
