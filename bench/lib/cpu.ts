/**
 * CPU time spent by the processes of a benchmark, from /proc/PID/stat (user + system): the broker
 * replicas, this process (the clients), and the Postgres backends serving the benchmark's database.
 * On a shared 2-core machine this says where a message's cost goes, whatever else is running.
 */
import { readFileSync } from 'node:fs';
import type { TestDatabase } from '../../testing/index.js';
import { withServerClient } from '../../testing/index.js';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds used so far by `pid`, or NaN when it is gone. */
function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

async function backendPids(db: TestDatabase): Promise<number[]> {
  return withServerClient(async (client) => {
    const result = await client.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = $1',
      [db.name],
    );
    return result.rows.map((r) => r.pid);
  });
}

export interface CpuUse {
  /** CPU seconds per group over the measured span. */
  seconds: Record<string, number>;
  wallSeconds: number;
}

/**
 * Measures CPU seconds of named process groups over `work`. Postgres backends are those connected
 * to `db` at the start and at the end (pooled connections live through the run).
 */
export async function measureCpu(
  groups: Record<string, number[]>,
  db: TestDatabase,
  work: () => Promise<void>,
): Promise<CpuUse> {
  const snapshot = (pids: number[]) => new Map(pids.map((pid) => [pid, cpuSecondsOf(pid)]));
  const startBackends = await backendPids(db);
  const fixed = { ...groups, clients: [process.pid] };
  const before = snapshot([...Object.values(fixed).flat(), ...startBackends]);
  const started = performance.now();
  await work();
  const wallSeconds = (performance.now() - started) / 1000;
  // A backend that connected during the run counts from zero: all its CPU time is the run's.
  const backends = [...new Set([...startBackends, ...(await backendPids(db))])];
  const all: Record<string, number[]> = { ...fixed, postgres: backends };
  const after = snapshot(Object.values(all).flat());
  const seconds: Record<string, number> = {};
  for (const [group, pids] of Object.entries(all)) {
    seconds[group] = pids.reduce((sum, pid) => {
      const delta = (after.get(pid) ?? Number.NaN) - (before.get(pid) ?? 0);
      return Number.isFinite(delta) ? sum + delta : sum; // gone before the end: not counted
    }, 0);
  }
  return { seconds, wallSeconds };
}

/** "brokers 1.2 ms, clients 0.3 ms, postgres 0.8 ms" per `count` units of work. */
export function perUnit(use: CpuUse, count: number, unit = 'message'): string {
  const parts = Object.entries(use.seconds).map(([k, s]) => `${k} ${((s * 1000) / count).toFixed(2)} ms`);
  const total = Object.values(use.seconds).reduce((a, b) => a + b, 0);
  return `CPU per ${unit}: ${parts.join(', ')}; total ${((total * 1000) / count).toFixed(2)} ms (${((100 * total) / use.wallSeconds / 2).toFixed(0)}% of 2 cores over ${use.wallSeconds.toFixed(1)} s)`;
}
