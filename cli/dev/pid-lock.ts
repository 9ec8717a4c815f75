/**
 * `DATA/nexus.pid`: one `nexus dev` per data directory (B.34). Written to a private file first and
 * then hard-linked into place, which fails if the name exists: two starts racing each other cannot
 * both win, and nobody reads a half-written pid. A file left by a supervisor that died (no such
 * process, or a process that is not `nexus dev`) is stale and replaced.
 */
import { readFileSync } from 'node:fs';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { ConfigError } from '../../platform/index.js';
import { shown } from './dev-paths.js';

export interface PidLock {
  /** Whether the previous holder died without releasing the lock (its children may be left). */
  replacedStale: boolean;
  release(): Promise<void>;
}

/** Whether `pid` is a live process (signal 0 checks existence without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The command line of a live process, or null (Linux `/proc`; elsewhere unknown, so null). */
export function commandLine(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return null;
  }
}

function looksLikeNexusDev(pid: number): boolean {
  if (!isAlive(pid)) return false;
  const command = commandLine(pid);
  // Without /proc there is no telling a reused pid from ours: assume it is ours (the safe side).
  return command === null || /\bdev\b/.test(command);
}

export async function acquirePidLock(file: string, dataDir: string): Promise<PidLock> {
  let replacedStale = false;
  const mine = `${file}.${process.pid}`;
  await writeFile(mine, `${process.pid}\n`, { mode: 0o644 });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await link(mine, file);
      await unlink(mine);
      return {
        replacedStale,
        release: async () => {
          const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
          if (holder === process.pid) await unlink(file).catch(() => undefined);
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        await unlink(mine).catch(() => undefined);
        throw err;
      }
    }
    const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && looksLikeNexusDev(pid)) {
      await unlink(mine).catch(() => undefined);
      throw new ConfigError(
        `nexus dev is already running on ${shown(dataDir)} (pid ${pid}); stop it first (Ctrl-C in its terminal, or kill ${pid})`,
      );
    }
    await unlink(file).catch(() => undefined);
    replacedStale = true;
  }
  await unlink(mine).catch(() => undefined);
  throw new ConfigError(`could not take ${shown(file)}: another nexus dev is starting on the same data`);
}
