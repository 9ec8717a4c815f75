/**
 * `DATA/nexus.pid`: one `nexus dev` per data directory (B.34). Written to a private file first and
 * then hard-linked into place, which fails if the name exists: two starts racing each other cannot
 * both win, and nobody reads a half-written pid. A file left by a supervisor that died (no such
 * process, or a process that is not `nexus dev`) is stale and replaced.
 *
 * Replacing a stale file is the one step that is not atomic by itself: two starts may both read
 * the stale pid, and the second to remove "the stale file" would remove the first one's fresh
 * lock. So only the holder of a second lock, `nexus.pid.takeover` (taken the same way), removes
 * it, and only when it still holds the pid read. A takeover lock whose holder died (in the few
 * system calls it is held) is moved to a private name, checked and removed.
 */
import { readFileSync } from 'node:fs';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
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

/** The arguments of a live process, or null (Linux `/proc`; elsewhere unknown, so null). */
function commandArgs(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return null;
  }
}

/** The command line of a live process, or null (Linux `/proc`; elsewhere unknown, so null). */
export function commandLine(pid: number): string | null {
  return commandArgs(pid)?.join(' ') ?? null;
}

/**
 * Whether a command line (its arguments) is `nexus dev`: the CLI entry (`…/cli/main.js`, or the
 * `nexus` launcher or bin) followed by the `dev` command. A reused pid whose command line merely
 * contains "dev" (a `/dev/…` path, `npm run dev`) is not.
 */
export function isNexusDevCommand(args: string[]): boolean {
  return args.some((arg, i) => /(^|\/)(cli\/main\.[jt]s|nexus)$/.test(arg) && args[i + 1] === 'dev');
}

function looksLikeNexusDev(pid: number): boolean {
  if (!isAlive(pid)) return false;
  const command = commandArgs(pid);
  // Without /proc there is no telling a reused pid from ours: assume it is ours (the safe side).
  return command === null || isNexusDevCommand(command);
}

/** How long a start keeps trying while other starts replace a stale file. */
const TAKE_MS = 10_000;

/** Creates `name` as a hard link of `mine`: false when the name exists. */
async function linked(mine: string, name: string): Promise<boolean> {
  try {
    await link(mine, name);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

const readText = (file: string) => readFile(file, 'utf8').catch(() => null);

/** The pid a lock file names, or null (unreadable or not a pid: stale). */
function pidIn(text: string): number | null {
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

export async function acquirePidLock(file: string, dataDir: string): Promise<PidLock> {
  const mine = `${file}.${process.pid}`;
  await writeFile(mine, `${process.pid}\n`, { mode: 0o644 });
  try {
    let replacedStale = false;
    const deadline = Date.now() + TAKE_MS;
    for (;;) {
      if (await linked(mine, file)) return held(file, replacedStale);
      const text = await readText(file);
      if (text === null) continue; // released or removed meanwhile: try again
      const pid = pidIn(text);
      if (pid !== null && pid !== process.pid && looksLikeNexusDev(pid))
        throw new ConfigError(
          `nexus dev is already running on ${shown(dataDir)} (pid ${pid}); stop it first (Ctrl-C in its terminal, or kill ${pid})`,
        );
      const removed = await removeStale(file, text, mine);
      if (removed !== null) replacedStale ||= removed;
      else if (Date.now() > deadline)
        throw new ConfigError(
          `could not take ${shown(file)}: another nexus dev is starting on the same data`,
        );
      else await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
    }
  } finally {
    await unlink(mine).catch(() => undefined);
  }
}

function held(file: string, replacedStale: boolean): PidLock {
  return {
    replacedStale,
    release: async () => {
      const holder = pidIn((await readText(file)) ?? '');
      if (holder === process.pid) await unlink(file).catch(() => undefined);
    },
  };
}

/**
 * Removes `file` if it still holds `staleText`, under the takeover lock: whether it did, or null
 * when another start holds that lock (it is replacing the file: look again after a moment).
 */
async function removeStale(file: string, staleText: string, mine: string): Promise<boolean | null> {
  const takeover = `${file}.takeover`;
  if (!(await linked(mine, takeover))) {
    await clearDeadTakeover(takeover);
    return null;
  }
  try {
    // Under the takeover lock nobody else removes a stale file, so what it holds now stays.
    if ((await readText(file)) !== staleText) return false;
    await unlink(file);
    return true;
  } finally {
    await unlink(takeover).catch(() => undefined);
  }
}

/** A takeover lock whose holder is gone is moved aside, checked, and removed. */
async function clearDeadTakeover(takeover: string): Promise<void> {
  const text = await readText(takeover);
  const pid = text === null ? null : pidIn(text);
  if (text === null || (pid !== null && isAlive(pid))) return;
  const aside = `${takeover}.${process.pid}`;
  try {
    await rename(takeover, aside);
  } catch {
    return; // removed by its holder or another start meanwhile
  }
  // Another start's fresh takeover lock was moved by mistake: put it back.
  if ((await readText(aside)) !== text) await link(aside, takeover).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
}
