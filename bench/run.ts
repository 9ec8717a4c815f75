/**
 * `npm run bench -- NAME [--seconds N]`: runs one benchmark, or a group (`broker`, `all`), one at
 * a time, and prints each result as a table with its baseline from the same run. Benchmarks never
 * fail: a missed target is printed as `no`.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { TEST_SERVER_URL } from '../testing/index.js';
import { busThroughput } from './bus-throughput.js';
import { claim } from './claim.js';
import { dispatchStart } from './dispatch-start.js';
import { deliver } from './deliver.js';
import { devStart } from './dev-start.js';
import { fanout } from './fanout.js';
import { footprint } from './footprint.js';
import { httpAuth } from './http-auth.js';
import { noisyNeighbour } from './noisy-neighbour.js';
import { operator } from './operator.js';
import { operatorFootprint } from './operator-footprint.js';
import { formatResult, type BenchOptions, type BenchResult } from './lib/report.js';
import { ensureTemplate } from './lib/setup.js';
import { waitForQuiet } from './lib/quiet.js';
import { resume } from './resume.js';
import { revoke } from './revoke.js';
import { send } from './send.js';
import { sessionAppend } from './session-append.js';
import { sessionOpen } from './session-open.js';
import { turnOverhead } from './turn-overhead.js';

const BENCHMARKS: Record<string, (options: BenchOptions) => Promise<BenchResult>> = {
  send,
  deliver,
  'bus-throughput': busThroughput,
  fanout,
  resume,
  'http-auth': httpAuth,
  revoke,
  footprint,
  'session-append': sessionAppend,
  'session-open': sessionOpen,
  'turn-overhead': turnOverhead,
  claim,
  'dispatch-start': dispatchStart,
  'noisy-neighbour': noisyNeighbour,
  'dev-start': devStart,
  operator,
  'operator-footprint': operatorFootprint,
};

const RUNTIME = ['session-append', 'session-open', 'turn-overhead'];
const HANDS = ['claim', 'dispatch-start', 'noisy-neighbour'];
const DEV = ['dev-start'];
const OPERATOR = ['operator', 'operator-footprint'];
const BROKER = Object.keys(BENCHMARKS).filter(
  (name) =>
    !RUNTIME.includes(name) && !HANDS.includes(name) && !DEV.includes(name) && !OPERATOR.includes(name),
);
const GROUPS: Record<string, string[]> = {
  broker: BROKER,
  runtime: RUNTIME,
  hands: HANDS,
  dev: DEV,
  kube: OPERATOR,
  all: [...BROKER, ...RUNTIME, ...HANDS, ...DEV, ...OPERATOR],
};

function usage(): string {
  return `usage: npm run bench -- NAME... [--seconds N]
  NAME: ${Object.keys(BENCHMARKS).join(', ')}, or a group: ${Object.keys(GROUPS).join(', ')}
  --seconds N   duration of bus-throughput's timed run (default 30)
  --quiet S     before each benchmark, wait up to S seconds for the CPUs to be quiet (default 300; 0: don't)\n`;
}

async function machine(): Promise<string> {
  const client = new pg.Client({ connectionString: TEST_SERVER_URL });
  await client.connect();
  try {
    const setting = async (name: string) =>
      (await client.query<{ v: string }>('SELECT current_setting($1) AS v', [name])).rows[0]?.v ?? '?';
    let revision = 'unknown';
    try {
      const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
      const dirty = execFileSync('git', ['status', '--porcelain', '--', ':!bench', ':!docs'], {
        encoding: 'utf8',
      }).trim();
      revision = dirty ? `${head} with uncommitted changes outside bench/ and docs/` : head;
    } catch {
      // not a git checkout: leave it unknown
    }
    return [
      `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB memory`,
      `node ${process.version}, PostgreSQL ${await setting('server_version')} (synchronous_commit=${await setting('synchronous_commit')}, shared_buffers=${await setting('shared_buffers')})`,
      `code: ${revision}`,
    ].join('\n');
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      seconds: { type: 'string' },
      quiet: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(usage());
    return;
  }
  const names = positionals.flatMap((p) => GROUPS[p] ?? [p]);
  const unknown = names.filter((n) => !(n in BENCHMARKS));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark: ${unknown.join(', ')}\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  const seconds = values.seconds === undefined ? undefined : Number(values.seconds);
  if (seconds !== undefined && !(Number.isFinite(seconds) && seconds >= 1 && seconds <= 600)) {
    process.stderr.write('--seconds must be a number from 1 to 600\n');
    process.exitCode = 2;
    return;
  }
  const quietS = values.quiet === undefined ? 300 : Number(values.quiet);
  if (!(Number.isFinite(quietS) && quietS >= 0 && quietS <= 3600)) {
    process.stderr.write('--quiet must be a number of seconds from 0 to 3600\n');
    process.exitCode = 2;
    return;
  }
  process.stdout.write(`${await machine()}\n\n`);
  await ensureTemplate();
  const options: BenchOptions = {
    seconds,
    log: (line) => process.stderr.write(`  … ${line}\n`),
  };
  for (const name of [...new Set(names)]) {
    const run = BENCHMARKS[name] as (options: BenchOptions) => Promise<BenchResult>;
    process.stderr.write(`running ${name}\n`);
    const quiet = await waitForQuiet(options.log, 0.3, quietS * 1000);
    const load = `other CPU use just before: ${(quiet.busy * 100).toFixed(0)}%`;
    const started = Date.now();
    try {
      const result = await run(options);
      const took = ((Date.now() - started) / 1000).toFixed(0);
      process.stdout.write(`${formatResult(result)}(${took} s; ${load})\n\n`);
    } catch (err) {
      process.stdout.write(
        `### ${name}\n\nfailed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n\n`,
      );
      process.exitCode = 1;
    }
  }
}

await main();
