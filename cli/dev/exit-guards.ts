/**
 * What keeps the supervisor's children from outliving it when its ordered stop cannot run: its
 * output closed under it (`nexus dev | head -1`, a closed terminal) must not crash it, and if it
 * dies anyway (an uncaught error) a synchronous `exit` handler signals what is still running. A
 * SIGKILL leaves no such chance: the next start clears up (`leftover-runtimes.ts`,
 * `stopLeftoverServer`).
 */

/**
 * Writes to a closed stdout or stderr (EPIPE from a pipe whose reader left, EIO from a terminal
 * that is gone) are dropped: the progress lines are for a person, the logs go to DATA/logs/.
 */
export function ignoreClosedOutput(): void {
  // Left in place to the end: the last line (`stopped`, or the CLI's error line) may meet it too.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
}

export interface Leftovers {
  /** The runtimes' pids (each leads a process group of its own). */
  runtimes: () => number[];
  /** The embedded postmaster's pid while it runs. */
  postgres: () => number | null;
}

/**
 * Until `disarm()` (called once the ordered stop ran), an exit of this process sends SIGTERM to
 * each runtime and SIGINT (fast shutdown) to PostgreSQL. Synchronous, as `exit` handlers must be.
 */
export function stopChildrenAtExit(leftovers: Leftovers): { disarm: () => void } {
  const atExit = () => {
    for (const pid of leftovers.runtimes()) signal(pid, 'SIGTERM');
    const postgres = leftovers.postgres();
    if (postgres !== null) signal(postgres, 'SIGINT');
  };
  process.on('exit', atExit);
  return { disarm: () => process.off('exit', atExit) };
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Gone already.
  }
}
