/**
 * The `./nexus` launcher rebuilds when anything a build reads changed (issue 9, item 17): every
 * source folder, the migrations copy-assets.mjs copies, package.json and the tsconfig files, but
 * not tests. It runs here, unchanged, in a small copy of the repository whose "build" is the real
 * `scripts/copy-assets.mjs` after a stand-in for tsc (a real tsc run would cost a minute of CPU per
 * case), with the file times set explicitly so no case depends on the clock's resolution.
 */
import { spawn } from 'node:child_process';
import { access, copyFile, mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const repo = path.resolve('.');

interface LauncherRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runLauncher(dir: string, args: string[]): Promise<LauncherRun> {
  const child = spawn(path.join(dir, 'nexus'), args, {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );

describe('the ./nexus launcher', () => {
  let dir: string;
  let sources: string[];
  /** Every input of the build, as a path in the copy. */
  let inputs: string[];
  /** A time well before now: inputs are set to it, the build stamp after it. */
  const past = new Date(Date.now() - 3_600_000);
  const later = new Date(past.getTime() + 600_000);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'nexus-launcher-'));
    await copyFile(path.join(repo, 'nexus'), path.join(dir, 'nexus'));
    for (const file of ['tsconfig.build.json', 'tsconfig.json'])
      await copyFile(path.join(repo, file), path.join(dir, file));
    await mkdir(path.join(dir, 'scripts'));
    await copyFile(path.join(repo, 'scripts/copy-assets.mjs'), path.join(dir, 'scripts/copy-assets.mjs'));
    // The stand-in for tsc writes a dist/cli/main.js that says it ran; then the real copy-assets.
    const mainJs = "process.stdout.write('ran ' + process.argv.slice(2).join(' ') + '\\n');\n";
    await writeFile(
      path.join(dir, 'scripts/fake-tsc.mjs'),
      [
        "import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';",
        "mkdirSync('dist/cli', { recursive: true });",
        `writeFileSync('dist/cli/main.js', ${JSON.stringify(mainJs)});`,
        "appendFileSync('builds.log', 'built\\n');",
        '',
      ].join('\n'),
    );

    await writeFile(
      path.join(dir, 'package.json'),
      JSON.stringify({
        name: 'launcher-copy',
        private: true,
        type: 'module',
        scripts: { build: 'node scripts/fake-tsc.mjs && node scripts/copy-assets.mjs' },
      }),
    );
    await mkdir(path.join(dir, 'node_modules')); // installed: the launcher skips npm install
    const { include } = JSON.parse(await readFile(path.join(repo, 'tsconfig.build.json'), 'utf8')) as {
      include: string[];
    };
    sources = include.map((folder) => path.join(folder, 'source.ts'));
    const tests = include.flatMap((folder) => [
      path.join(folder, 'source.test.ts'),
      path.join(folder, 'test', 'helper.ts'),
    ]);
    for (const file of [...sources, ...tests]) {
      await mkdir(path.join(dir, path.dirname(file)), { recursive: true });
      await writeFile(path.join(dir, file), 'export {};\n');
    }
    await mkdir(path.join(dir, 'broker/db/migrations'), { recursive: true });
    await writeFile(path.join(dir, 'broker/db/migrations/0001_first.sql'), 'SELECT 1;\n');
    inputs = [
      ...sources,
      'broker/db/migrations/0001_first.sql',
      'package.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'scripts/copy-assets.mjs',
    ];
    for (const file of [...inputs, ...tests]) await utimes(path.join(dir, file), past, past);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const builds = async () => (await readFile(path.join(dir, 'builds.log'), 'utf8').catch(() => '')).length;

  it('builds on first use, then runs the built command without building again', async () => {
    const first = await runLauncher(dir, ['--version']);
    expect(first).toEqual({ code: 0, stdout: 'ran --version\n', stderr: 'nexus: building\n' });
    expect(await exists(path.join(dir, 'dist/.build-stamp'))).toBe(true);
    expect(await exists(path.join(dir, 'dist/broker/db/migrations/0001_first.sql'))).toBe(true);
    const second = await runLauncher(dir, ['roster']);
    expect(second).toEqual({ code: 0, stdout: 'ran roster\n', stderr: '' });
  });

  it('rebuilds when any source folder, migration, package.json, tsconfig or the build script changed', async () => {
    const rebuiltFor: string[] = [];
    for (const file of inputs) {
      // The last good build was at `past + 10 min`; this input changed after it.
      await utimes(path.join(dir, 'dist/.build-stamp'), later, later);
      await utimes(
        path.join(dir, file),
        new Date(later.getTime() + 60_000),
        new Date(later.getTime() + 60_000),
      );
      const before = await builds();
      const run = await runLauncher(dir, ['roster']);
      expect({ file, code: run.code, stdout: run.stdout }).toEqual({ file, code: 0, stdout: 'ran roster\n' });
      if ((await builds()) > before && run.stderr === 'nexus: building\n') rebuiltFor.push(file);
      await utimes(path.join(dir, file), past, past);
    }
    expect(rebuiltFor).toEqual(inputs);
    expect(inputs).toEqual(
      expect.arrayContaining(['runtime/source.ts', 'cli/source.ts', 'broker/source.ts']),
    );
  });

  it('does not rebuild for a changed test, and rebuilds after a build that failed', async () => {
    await utimes(path.join(dir, 'dist/.build-stamp'), later, later);
    const afterStamp = new Date(later.getTime() + 60_000);
    for (const test of ['runtime/source.test.ts', 'broker/test/helper.ts'])
      await utimes(path.join(dir, test), afterStamp, afterStamp);
    const before = await builds();
    expect(await runLauncher(dir, ['roster'])).toEqual({ code: 0, stdout: 'ran roster\n', stderr: '' });
    expect(await builds()).toBe(before);

    // A build that fails writes no stamp (tsc may still have emitted main.js): the next run builds.
    await rm(path.join(dir, 'dist/.build-stamp'));
    expect((await runLauncher(dir, ['roster'])).stderr).toBe('nexus: building\n');
  });
});
