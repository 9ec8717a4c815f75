/**
 * The machine is shared (test runs, other sessions): before each benchmark, wait for the CPUs to be
 * quiet, within a bound, and report how busy they were when it started.
 */
import { readFileSync } from 'node:fs';
import { sleep } from './setup.js';

function cpuTimes(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

/** Fraction of all CPU time spent busy over the next `windowMs`. */
export async function cpuBusy(windowMs: number): Promise<number> {
  const before = cpuTimes();
  await sleep(windowMs);
  const after = cpuTimes();
  const total = after.total - before.total;
  return total > 0 ? (after.busy - before.busy) / total : 0;
}

/** Waits until CPU use over 2 s is under `threshold`, for at most `maxWaitMs`; returns the last reading. */
export async function waitForQuiet(
  log: (line: string) => void,
  threshold = 0.3,
  maxWaitMs = 300_000,
): Promise<{ busy: number; waitedMs: number }> {
  const started = Date.now();
  let busy = await cpuBusy(2000);
  while (busy > threshold && Date.now() - started + 7000 <= maxWaitMs) {
    log(`machine busy (${(busy * 100).toFixed(0)}% CPU); waiting for quiet`);
    await sleep(5000);
    busy = await cpuBusy(2000);
  }
  return { busy, waitedMs: Date.now() - started };
}
