/**
 * `DATA/nexus.pid` (B.34) taken by real processes racing on the file system. Each racer is a small
 * script at `<tmp>/cli/main.js` run as `node <tmp>/cli/main.js dev`, so the others see a live
 * nexus dev in its command line; it uses the built lock module (dist/, as every process test does).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigError } from '../../platform/index.js';
import { acquirePidLock } from './pid-lock.js';

const BUILT_LOCK = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli/dev/pid-lock.js');

/** Takes the lock when it reads `go`; a winner holds it until its stdin ends, then releases it. */
const RACER = `
import { createInterface } from 'node:readline';
const { acquirePidLock } = await import(process.env.LOCK_MODULE);
const lines = createInterface({ input: process.stdin });
console.log('waiting');
for await (const line of lines) {
  if (line !== 'go') continue;
  try {
    const lock = await acquirePidLock(process.env.LOCK_FILE, process.env.LOCK_DATA);
    console.log('won');
    process.stdin.once('end', () => lock.release().then(() => process.exit(0)));
    break;
  } catch (err) {
    console.log('refused: ' + err.message);
    process.exit(0);
  }
}
`;

interface Racer {
  child: ChildProcess;
  line(): Promise<string>;
}

function startRacer(script: string, file: string, data: string): Racer {
  const child = spawn(process.execPath, [script, 'dev', '--data', data], {
    env: {
      PATH: process.env.PATH ?? '',
      LOCK_MODULE: pathToFileURL(BUILT_LOCK).href,
      LOCK_FILE: file,
      LOCK_DATA: data,
    },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout as NonNullable<typeof child.stdout> })[
    Symbol.asyncIterator
  ]();
  return {
    child,
    line: async () => {
      const next = await lines.next();
      if (next.done) throw new Error(`racer ${child.pid} ended without a line`);
      return next.value as string;
    },
  };
}

/** A live process whose command line mentions /dev/ but is no nexus dev. */
function devPathProcess(): ChildProcess {
  return spawn('tail', ['-f', '/dev/null'], { stdio: 'ignore' });
}

describe('the pid lock of nexus dev (DATA/nexus.pid)', () => {
  let work: string;
  let script: string;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'nexus-pid-lock-'));
    script = path.join(work, 'cli', 'main.js');
    await mkdir(path.dirname(script));
    await writeFile(script, RACER);
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await rm(work, { recursive: true, force: true });
  });

  it('goes to exactly one of many starts racing over a stale pid file', async () => {
    // The pid of a process that has exited, as a supervisor killed with SIGKILL leaves it.
    const gone = spawn('true');
    await new Promise((resolve) => gone.once('exit', resolve));
    for (let round = 0; round < 5; round++) {
      const data = path.join(work, `round-${round}`);
      await mkdir(data);
      const file = path.join(data, 'nexus.pid');
      await writeFile(file, `${gone.pid}\n`);
      const racers = Array.from({ length: 8 }, () => startRacer(script, file, data));
      children.push(...racers.map((r) => r.child));
      for (const racer of racers) expect(await racer.line()).toBe('waiting');
      for (const racer of racers) racer.child.stdin?.write('go\n');
      const results = await Promise.all(racers.map((r) => r.line()));
      const winners = racers.filter((_r, i) => results[i] === 'won');
      expect([
        round,
        winners.length,
        results.filter((r) => r !== 'won' && !r.startsWith('refused: ')),
      ]).toEqual([round, 1, []]);
      const winner = winners[0] as Racer;
      expect((await readFile(file, 'utf8')).trim()).toBe(String(winner.child.pid));
      for (const racer of racers) racer.child.stdin?.end();
      await new Promise((resolve) =>
        winner.child.exitCode === null ? winner.child.once('exit', resolve) : resolve(null),
      );
      await expect(readFile(file)).rejects.toThrow(/ENOENT/);
    }
  }, 120_000);

  it('takes over a pid file whose process is not a nexus dev, though its command line mentions /dev/', async () => {
    const other = devPathProcess();
    children.push(other);
    const data = path.join(work, 'reused');
    await mkdir(data);
    const file = path.join(data, 'nexus.pid');
    await writeFile(file, `${other.pid}\n`);
    const lock = await acquirePidLock(file, data);
    expect(lock.replacedStale).toBe(true);
    expect((await readFile(file, 'utf8')).trim()).toBe(String(process.pid));
    await lock.release();
  });

  it('is refused while a live nexus dev holds it, naming that pid', async () => {
    const data = path.join(work, 'held');
    await mkdir(data);
    const file = path.join(data, 'nexus.pid');
    const holder = startRacer(script, file, data);
    children.push(holder.child);
    expect(await holder.line()).toBe('waiting');
    holder.child.stdin?.write('go\n');
    expect(await holder.line()).toBe('won');
    await expect(acquirePidLock(file, data)).rejects.toThrow(
      new ConfigError(
        `nexus dev is already running on ${data} (pid ${holder.child.pid}); stop it first (Ctrl-C in its terminal, or kill ${holder.child.pid})`,
      ),
    );
    holder.child.stdin?.end();
  });
});
