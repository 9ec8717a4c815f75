/**
 * `DATA/runtimes.json` lists the pids of the runtimes a supervisor started, with their homes. A
 * supervisor that was killed (SIGKILL, a crash) cannot stop its children; the next start stops
 * those still running on one of our homes before anything else, so two runtimes never write one
 * home's sessions at once.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { commandLine, isAlive } from './pid-lock.js';

export interface RecordedRuntime {
  pid: number;
  home: string;
}

/** Rewrites the record (synchronously: it is called from spawn callbacks and must not interleave). */
export function recordRuntimes(file: string, runtimes: RecordedRuntime[]): void {
  writeFileSync(file, `${JSON.stringify(runtimes)}\n`);
}

export async function stopLeftoverRuntimes(file: string, say: (line: string) => void): Promise<void> {
  const recorded = await readFile(file, 'utf8')
    .then((text) => JSON.parse(text) as RecordedRuntime[])
    .catch((): RecordedRuntime[] => []);
  const leftovers = recorded.filter(
    ({ pid, home }) => isAlive(pid) && (commandLine(pid) ?? '').includes(home),
  );
  for (const { pid } of leftovers) {
    say(`stopping a runtime left running by an earlier nexus dev (pid ${pid})`);
    process.kill(pid, 'SIGTERM');
  }
  const deadline = Date.now() + 15_000;
  while (leftovers.some(({ pid }) => isAlive(pid)) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  for (const { pid } of leftovers) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  await writeFile(file, '[]\n');
}
