/**
 * Orchestrator duties: periodic jobs that exactly one replica runs at a time (SPEC section 8, B.40).
 * Each duty is held under a session advisory lock on this replica's dedicated duty connection,
 * opened with TCP keepalives. When the holder dies its connection closes, Postgres releases the
 * lock, and another replica's next attempt (every `attemptMs`) takes it over. A holder whose duty
 * connection breaks stops all its duties at once.
 */
import pg from 'pg';
import type { Logger } from '../../platform/index.js';
import type { Queryable } from '../db/pool.js';
import type { BrokerMetrics } from '../observability/broker-metrics.js';

export interface Duty {
  name: string;
  /** Advisory lock key, unique per duty. */
  key: number;
  intervalMs: number;
  run(db: Queryable): Promise<void>;
  /** Called when this replica stops holding the duty. */
  released?(): void;
}

export class DutyRunner {
  private client: pg.Client | null = null;
  private readonly held = new Map<string, number>(); // duty name -> last run (ms)
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly replicaId: string,
    private readonly duties: Duty[],
    private readonly logger: Logger,
    private readonly metrics: BrokerMetrics,
    private readonly attemptMs = 500,
  ) {}

  /** Names of the duties this replica holds now. */
  get holding(): string[] {
    return [...this.held.keys()];
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.attemptMs);
    void this.tick();
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      const client = this.client ?? (await this.connect());
      const now = Date.now();
      for (const duty of this.duties) {
        if (!this.held.has(duty.name)) {
          const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [
            duty.key,
          ]);
          if (!got.rows[0]?.ok) continue;
          this.held.set(duty.name, 0);
          this.metrics.dutyHeld.set({ duty: duty.name }, 1);
          this.logger.info({ duty: duty.name }, 'duty taken');
        }
        if (now - (this.held.get(duty.name) ?? 0) < duty.intervalMs) continue;
        this.held.set(duty.name, now);
        try {
          await duty.run(client);
        } catch (err) {
          if (this.client !== client) throw err;
          this.logger.warn({ err, duty: duty.name }, 'duty run failed');
        }
      }
    } catch (err) {
      this.logger.debug({ err }, 'duty connection unavailable');
      this.dropAll();
    } finally {
      this.ticking = false;
    }
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.url,
      keepAlive: true,
      keepAliveInitialDelayMillis: 5000,
      connectionTimeoutMillis: 2000,
      application_name: `nexus-duty:${this.replicaId}`,
    });
    client.on('error', (err) => {
      this.logger.warn({ err }, 'duty connection failed; releasing duties');
      if (this.client === client) this.dropAll();
    });
    await client.connect();
    // Keepalive probes (idle 5 s, interval 2 s, count 3): a lost host is noticed in about 11 s (B.40).
    await client.query(
      `SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3`,
    );
    this.client = client;
    return client;
  }

  private dropAll(): void {
    const client = this.client;
    this.client = null;
    for (const duty of this.duties) {
      if (this.held.delete(duty.name)) {
        this.metrics.dutyHeld.set({ duty: duty.name }, 0);
        duty.released?.();
        this.logger.info({ duty: duty.name }, 'duty released');
      }
    }
    client?.end().catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    const client = this.client;
    this.dropAll();
    await client?.end().catch(() => undefined);
  }
}

/** Who holds each duty now, read from pg_locks (for `GET /v1/admin/duties`). */
export async function listDutyHolders(
  db: Queryable,
  duties: Duty[],
): Promise<{ duty: string; holder: string | null }[]> {
  const result = await db.query<{ key: string; holder: string }>(
    `SELECT l.objid::text AS key, a.application_name AS holder
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  );
  const byKey = new Map(result.rows.map((r) => [r.key, r.holder.replace(/^nexus-duty:/, '')]));
  return duties.map((d) => ({ duty: d.name, holder: byKey.get(String(d.key)) ?? null }));
}
