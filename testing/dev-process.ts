/**
 * `nexus dev` as a user runs it, for the end-to-end tests of issue 10: a clean clone of the
 * committed tree (`git clone --local`, the installed `node_modules` linked, as B.93 allows), the
 * launcher `./nexus` run inside it, and the process tree it leaves, read from `/proc`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

/** A clone of the repository's committed HEAD in a new temp folder (mode 0700, as mkdtemp makes). */
export async function cleanClone(): Promise<string> {
  const parent = await mkdtemp(path.join(tmpdir(), 'nexus-clone-'));
  const clone = path.join(parent, 'nexus');
  execFileSync('git', ['clone', '--quiet', '--local', REPO, clone]);
  await symlink(path.join(REPO, 'node_modules'), path.join(clone, 'node_modules'));
  return clone;
}

export interface DevProcess {
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout (or stderr) holds `text`; rejects at the deadline or if the process exits. */
  waitFor(text: string, options: { timeoutMs: number; stream?: 'stdout' | 'stderr' }): Promise<number>;
  exited(): Promise<number | null>;
}

/** A user's environment: no DATABASE_URL, no API key, no NEXUS_* settings. */
export function userEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...extra };
}

/** `./nexus ARGS` (the launcher) inside a clone, as a user types it. */
export function runInClone(clone: string, args: string[], env = userEnv()): DevProcess {
  return runProcess(path.join(clone, 'nexus'), args, { cwd: clone, env });
}

/**
 * Any command, its output collected (for `node dist/cli/main.js dev …` from a test folder).
 * `detached` makes it the leader of a process group of its own, so `signalGroup` can signal it as
 * a terminal does: the whole foreground group at once (Ctrl-C, a closed terminal's SIGHUP).
 */
export function runProcess(
  command: string,
  args: string[],
  options: { cwd: string; env: Record<string, string>; detached?: boolean },
): DevProcess {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const listeners: (() => void)[] = [];
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    for (const l of listeners) l();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString();
    for (const l of listeners) l();
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  let done = false;
  void exited.then(() => {
    done = true;
    for (const l of listeners) l();
  });
  return {
    child,
    pid: child.pid as number,
    stdout: () => out,
    stderr: () => err,
    exited: () => exited,
    waitFor(text, { timeoutMs, stream = 'stdout' }) {
      const started = Date.now();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => fail(`not within ${timeoutMs} ms`), timeoutMs);
        const fail = (why: string) => {
          clearTimeout(timer);
          reject(new Error(`nexus ${args.join(' ')}: "${text}" ${why}\nstdout:\n${out}\nstderr:\n${err}`));
        };
        const check = () => {
          if ((stream === 'stdout' ? out : err).includes(text)) {
            clearTimeout(timer);
            resolve(Date.now() - started);
          } else if (done) fail('never came: the process exited');
        };
        listeners.push(check);
        check();
      });
    },
  };
}

/** `signal` to every process of the group `process` leads (started with `detached: true`). */
export function signalGroup(process: DevProcess, signal: NodeJS.Signals): void {
  globalThis.process.kill(-process.pid, signal);
}

/** The parent pid of a live process, or null. */
function parentOf(pid: number): number | null {
  try {
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

function livePids(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/** `root` and every process descending from it, now. */
export function processTree(root: number): number[] {
  const parents = new Map(livePids().map((pid) => [pid, parentOf(pid)]));
  const tree = [root];
  for (let i = 0; i < tree.length; i++)
    for (const [pid, parent] of parents) if (parent === tree[i] && !tree.includes(pid)) tree.push(pid);
  return tree.filter((pid) => parents.has(pid));
}

/** The pids among `pids` that are still running (zombies count as gone). */
export function stillRunning(pids: number[]): number[] {
  return pids.filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
    } catch {
      return false;
    }
  });
}

/** Live processes whose command line mentions `text` (a clone's path, a cluster folder). */
export function processesMentioning(text: string): { pid: number; command: string }[] {
  return livePids().flatMap((pid) => {
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      return command.includes(text) && pid !== process.pid ? [{ pid, command }] : [];
    } catch {
      return [];
    }
  });
}
