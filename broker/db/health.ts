/**
 * Watches the database: reachable or not, and whether its schema matches this code. `/readyz`
 * reads it, and a transition to unreachable tells the socket hub to close sockets with 1013.
 */
import type { Logger } from '../../platform/index.js';
import type { Queryable } from './pool.js';

export type DatabaseState =
  { reachable: false; reason: string } | { reachable: true; schemaVersion: number; problem: string | null };

export class DatabaseHealth {
  private state: DatabaseState = { reachable: false, reason: 'not checked yet' };
  private timer: NodeJS.Timeout | null = null;
  private readonly changeListeners: ((reachable: boolean) => void)[] = [];

  constructor(
    private readonly db: Queryable,
    private readonly codeVersion: number,
    private readonly logger: Logger,
    private readonly intervalMs = 1000,
  ) {}

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
    try {
      const result = await this.db.query<{ version: number | null }>(
        'SELECT max(version) AS version FROM schema_migrations',
      );
      const version = result.rows[0]?.version ?? 0;
      const problem =
        version > this.codeVersion
          ? `database schema ${version} is newer than this broker (${this.codeVersion})`
          : version < this.codeVersion
            ? `database schema ${version} is older than this broker (${this.codeVersion}); run nexus migrate`
            : null;
      this.state = { reachable: true, schemaVersion: version, problem };
    } catch (err) {
      const code = (err as { code?: string }).code;
      const reason = code === '42P01' ? 'database has no schema; run nexus migrate' : 'database unreachable';
      this.state =
        code === '42P01'
          ? { reachable: true, schemaVersion: 0, problem: reason }
          : { reachable: false, reason };
    }
    if (before !== this.state.reachable) {
      this.logger.info({ reachable: this.state.reachable }, 'database reachability changed');
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
