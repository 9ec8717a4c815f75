/**
 * `dev-start`: the time from starting `nexus dev` (the built CLI; install and build excluded) to
 * its `ready` line, with the shipped `agents/` on the embedded PostgreSQL and no API key: first
 * starts on an empty data folder (initdb included) and warm starts on the same data. Each start
 * is stopped with SIGINT before the next. The phases come from `NEXUS_DEV_DEBUG`'s timestamps.
 * Target (issue 10): a warm start under 10 s. There is no baseline to compare with.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NEXUS_BIN } from '../testing/index.js';
import { runProcess, userEnv } from '../testing/dev-process.js';
import { type BenchOptions, type BenchResult, ms, yesNo } from './lib/report.js';
import { median } from './lib/stats.js';

const FIRST_STARTS = 3;
const WARM_STARTS = 5;
const AGENTS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'agents');

/** Milliseconds since the start at which each progress line of one start was printed. */
interface Start {
  readyMs: number;
  phases: Record<string, number>;
}

const PHASES: [string, RegExp][] = [
  ['PostgreSQL accepting', /PostgreSQL [\d.]+ on /],
  ['migrations checked', /migrations applied|schema is current/],
  ['broker listening', /broker on /],
  ['worker pool up', /Hand worker pool/],
];

async function startOnce(data: string): Promise<Start> {
  const started = Date.now();
  const dev = runProcess(
    process.execPath,
    [NEXUS_BIN, 'dev', '--agents', AGENTS, '--data', data, '--port', '0', '--metrics-port', 'auto'],
    { cwd: tmpdir(), env: userEnv({ NEXUS_DEV_DEBUG: '1' }) },
  );
  await dev.waitFor('\nready\n', { timeoutMs: 120_000 });
  const readyMs = Date.now() - started;
  const phases: Record<string, number> = {};
  for (const line of dev.stderr().split('\n'))
    for (const [phase, pattern] of PHASES)
      if (pattern.test(line)) phases[phase] = Number(/\[\+(\d+) ms\]/.exec(line)?.[1]);
  dev.child.kill('SIGINT');
  if ((await dev.exited()) !== 0) throw new Error(`nexus dev did not stop cleanly:\n${dev.stderr()}`);
  return { readyMs, phases };
}

export async function devStart(options: BenchOptions): Promise<BenchResult> {
  const parent = await mkdtemp(path.join(tmpdir(), 'nexus-bench-dev-'));
  // Reachable by the postgres OS user, so the cluster lives in DATA/pg as it does in a clone
  // under a world-readable folder (B.45).
  await chmod(parent, 0o755);
  const first: Start[] = [];
  const warm: Start[] = [];
  try {
    for (let i = 0; i < FIRST_STARTS; i++) {
      const data = path.join(parent, `data-${i}`);
      first.push(await startOnce(data));
      options.log(`first start ${i + 1}: ready in ${first.at(-1)?.readyMs} ms`);
      if (i === 0)
        for (let j = 0; j < WARM_STARTS; j++) {
          warm.push(await startOnce(data));
          options.log(`warm start ${j + 1}: ready in ${warm.at(-1)?.readyMs} ms`);
        }
    }
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
  const firstMs = median(first.map((s) => s.readyMs));
  const warmMs = median(warm.map((s) => s.readyMs));
  const phaseNote = (label: string, starts: Start[]) =>
    `${label} phases (median ms since start): ` +
    PHASES.map(
      ([phase]) => `${phase} ${median(starts.map((s) => s.phases[phase] ?? Number.NaN)).toFixed(0)}`,
    ).join(', ') +
    `, ready ${median(starts.map((s) => s.readyMs)).toFixed(0)} (the rest: three runtimes start and register)`;
  return {
    name: 'dev-start',
    what: '`nexus dev` to `ready`: the shipped team (3 aspects) on the embedded PostgreSQL, no API key, build excluded',
    rows: [
      {
        metric: 'first start (initdb)',
        ours: ms(firstMs, 0),
        baseline: '—',
        ratio: '—',
        target: '—',
        met: '—',
      },
      {
        metric: 'warm start',
        ours: ms(warmMs, 0),
        baseline: '—',
        ratio: '—',
        target: '< 10,000 ms',
        met: yesNo(warmMs < 10_000),
      },
    ],
    notes: [
      `${FIRST_STARTS} first starts (each on a new data folder) and ${WARM_STARTS} warm starts; medians`,
      phaseNote('first start', first),
      phaseNote('warm start', warm),
    ],
  };
}
