import { WireError } from '../../protocol/index.js';

/** How a Postgres failure is handled, keyed by SQLSTATE (class or full code). */
export type Disposition = 'retry' | 'unavailable' | 'throw';

const BY_CODE: Record<string, Disposition> = {
  '40001': 'retry', // serialization_failure
  '40P01': 'retry', // deadlock_detected
  '57P01': 'unavailable', // admin_shutdown (pg_terminate_backend, server stop)
  '57P02': 'unavailable', // crash_shutdown
  '57P03': 'unavailable', // cannot_connect_now (starting up)
  '53300': 'unavailable', // too_many_connections
};
const BY_CLASS: Record<string, Disposition> = { '08': 'unavailable' }; // connection exceptions

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
]);
const CONNECTION_MESSAGES = [
  'Connection terminated',
  'connection timeout',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Client was closed',
  'terminating connection',
];

/** Tells whether an error from `pg` is worth retrying, means the database is away, or is a bug. */
export function classifyDatabaseError(err: unknown): Disposition {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  if (BY_CODE[code]) return BY_CODE[code];
  if (code.length === 5 && BY_CLASS[code.slice(0, 2)]) return BY_CLASS[code.slice(0, 2)] as Disposition;
  if (NETWORK_CODES.has(code)) return 'unavailable';
  const message = typeof e?.message === 'string' ? e.message : '';
  if (CONNECTION_MESSAGES.some((m) => message.includes(m))) return 'unavailable';
  return 'throw';
}

/** The wire error for "the database cannot be reached right now". */
export function databaseUnavailable(): WireError {
  return new WireError('unavailable', 'the database is unreachable; retry shortly', undefined, 1);
}

/**
 * Runs `attempt`, retrying serialization failures and deadlocks with capped backoff, and turning
 * connection failures into `503 unavailable`. Anything else is rethrown unchanged.
 */
export async function withDatabaseRetry<T>(attempt: () => Promise<T>, maxAttempts = 5): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (err instanceof WireError) throw err;
      const disposition = classifyDatabaseError(err);
      if (disposition === 'unavailable') throw databaseUnavailable();
      if (disposition === 'throw' || n >= maxAttempts) throw err;
      await new Promise((r) => setTimeout(r, Math.min(200, 5 * 2 ** n) * (0.5 + Math.random())));
    }
  }
}
