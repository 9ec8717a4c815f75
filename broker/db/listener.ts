/**
 * The replica's single LISTEN connection. The tables are the truth and a NOTIFY is only a latency
 * hint: every waiter also polls, so a notification lost while this connection was down costs
 * latency, never a message. This module owns the connection and reconnects it with backoff; after
 * each reconnect it calls `onReconnect` so callers can poll at once for what they missed.
 */
import pg from 'pg';
import type { Logger } from '../../platform/index.js';

export type NotificationHandler = (payload: string) => void;

export class Listener {
  private client: pg.Client | null = null;
  private readonly handlers = new Map<string, NotificationHandler[]>();
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private connecting = false;
  /** Called after every (re)connection, so waiters can poll for notifications they missed. */
  onReconnect: () => void = () => {};

  constructor(
    private readonly url: string,
    private readonly logger: Logger,
  ) {}

  /** Registers a handler for a channel; channels are listened on at every (re)connect. */
  on(channel: string, handler: NotificationHandler): void {
    const list = this.handlers.get(channel) ?? [];
    list.push(handler);
    this.handlers.set(channel, list);
  }

  get connected(): boolean {
    return this.client !== null;
  }

  /** The backend pid of the LISTEN connection, for tests that terminate it. */
  pid: number | null = null;

  start(): void {
    void this.connect(0);
  }

  private async connect(attempt: number): Promise<void> {
    if (this.stopped || this.connecting) return;
    this.connecting = true;
    const client = new pg.Client({
      connectionString: this.url,
      keepAlive: true,
      keepAliveInitialDelayMillis: 5000,
      connectionTimeoutMillis: 3000,
      application_name: 'nexus-broker-listen',
    });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, new Error('listen connection ended')));
    client.on('notification', (n) => {
      for (const handler of this.handlers.get(n.channel) ?? []) {
        try {
          handler(n.payload ?? '');
        } catch (err) {
          this.logger.error({ err, channel: n.channel }, 'notification handler failed');
        }
      }
    });
    try {
      await client.connect();
      for (const channel of this.handlers.keys())
        await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      const pid = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      this.pid = pid.rows[0]?.pid ?? null;
      this.connecting = false;
      if (this.stopped) {
        await client.end();
        return;
      }
      this.client = client;
      if (attempt > 0) this.logger.info({ attempt }, 'listen connection restored');
      this.onReconnect();
    } catch (err) {
      this.connecting = false;
      client.removeAllListeners('end');
      client.end().catch(() => undefined);
      this.scheduleRetry(attempt + 1, err);
    }
  }

  private lost(client: pg.Client, err: Error): void {
    if (this.client !== client) return;
    this.client = null;
    this.pid = null;
    client.removeAllListeners('end');
    client.end().catch(() => undefined);
    if (!this.stopped) this.scheduleRetry(1, err);
  }

  private scheduleRetry(attempt: number, err: unknown): void {
    if (this.stopped || this.retryTimer) return;
    const delay = Math.min(1000, 50 * 2 ** attempt);
    if (attempt === 1) this.logger.warn({ err }, 'listen connection lost; reconnecting');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect(attempt);
    }, delay);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = null;
    if (client) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
    }
  }
}
