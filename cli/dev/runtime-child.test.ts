import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { waitUntil } from '../../testing/index.js';
import { stillRunning } from '../../testing/dev-process.js';
import { RuntimeChild } from './runtime-child.js';

/** A real child process that runs until it is signalled, standing in for `nexus agent`. */
function idleChild(logFile: string, spawned: number[]): RuntimeChild {
  const child: RuntimeChild = new RuntimeChild({
    name: 'idle',
    command: process.execPath,
    args: ['-e', 'setInterval(() => {}, 1000)'],
    env: { PATH: process.env.PATH ?? '' },
    logFile,
    say: () => undefined,
    onSpawn: () => spawned.push(child.pid as number),
  });
  return child;
}

describe('a runtime child of nexus dev', () => {
  let work: string;
  const spawned: number[] = [];
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'nexus-runtime-child-'));
  });
  afterAll(async () => {
    for (const pid of stillRunning(spawned)) process.kill(pid, 'SIGKILL');
    await rm(work, { recursive: true, force: true });
  });

  it('starts nothing after a stop, even when a restart (an edit under --agents) was under way', async () => {
    const child = idleChild(path.join(work, 'race.log'), spawned);
    child.start();
    expect(spawned).toHaveLength(1);
    // The edit's restart is waiting for the old process to exit when Ctrl-C stops the runtimes.
    const restarting = child.restart();
    await child.stop();
    await restarting;
    expect(child.state).toBe('stopped');
    expect(child.pid).toBeNull();
    expect(spawned).toHaveLength(1);
    // And a restart asked for after the stop starts nothing either.
    await child.restart();
    expect(spawned).toHaveLength(1);
    await waitUntil(() => stillRunning(spawned).length === 0, {
      timeoutMs: 20_000,
      what: 'the runtime child to exit',
    });
  });
});
