import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { nexusCommand } from './broker-process.js';

export interface AgentProcess {
  child: ChildProcess;
  home: string;
  /** Everything it printed, stdout and stderr in arrival order. */
  logs(): string;
  /** What it printed on stdout only. */
  stdout(): string;
  /** What it printed on stderr only. */
  stderr(): string;
  /** Resolves when the process logs a line containing `text`. */
  waitForLog(text: string, timeoutMs?: number): Promise<void>;
  /** The `/metrics` URL the process logged (it runs with `--metrics-port auto` unless told otherwise). */
  metricsUrl(timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code when the process exits by itself (or is stopped). */
  exited(): Promise<number | null>;
  kill(): Promise<void>;
  stop(): Promise<number | null>;
}

/**
 * The `--metrics-port` a test process gets: `auto` by default, so parallel tests never fight over
 * 9464 / 9465 (B.85); `'0'` turns metrics off; null passes no flag (the process's default port).
 */
export type TestMetricsPort = 'auto' | '0' | null;

const metricsArgs = (port: TestMetricsPort | undefined) =>
  port === null ? [] : ['--metrics-port', port ?? 'auto'];

/** Writes an aspect home: aspect.json plus any other files (SOUL.md, script.json, …). */
export async function writeHome(files: Record<string, unknown>, dir?: string): Promise<string> {
  const home = dir ?? (await mkdtemp(path.join(tmpdir(), 'nexus-home-')));
  await mkdir(home, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    await writeFile(
      path.join(home, name),
      typeof content === 'string' ? content : JSON.stringify(content, null, 2),
    );
  }
  return home;
}

/** Spawns `nexus agent HOME` against a broker, as a user would run it. */
export function startAgentProcess(options: {
  home: string;
  url: string;
  token: string;
  env?: Record<string, string>;
  metricsPort?: TestMetricsPort;
}): AgentProcess {
  return {
    ...spawnNexus(['agent', options.home, ...metricsArgs(options.metricsPort)], options),
    home: options.home,
  };
}

/** Spawns `nexus worker` (a Hand worker) against a broker with a worker token. */
export function startWorkerProcess(options: {
  url: string;
  token: string;
  slots?: number;
  env?: Record<string, string>;
  metricsPort?: TestMetricsPort;
}): NexusProcess {
  return spawnNexus(
    ['worker', '--slots', String(options.slots ?? 1), ...metricsArgs(options.metricsPort)],
    options,
  );
}

export type NexusProcess = Omit<AgentProcess, 'home'>;

/** Spawns any long-running `nexus ARGS` (for example `tail`) with NEXUS_URL and NEXUS_TOKEN. */
export function startNexusProcess(
  args: string[],
  options: { url: string; token: string; env?: Record<string, string>; bin?: string; cwd?: string },
): NexusProcess {
  return spawnNexus(args, options);
}

/**
 * Spawns `nexus ARGS` with NEXUS_URL and NEXUS_TOKEN, collecting its output. An empty `token`
 * leaves NEXUS_TOKEN unset (for tests that give NEXUS_TOKEN_FILE instead).
 */
function spawnNexus(
  args: string[],
  options: { url: string; token: string; env?: Record<string, string>; bin?: string; cwd?: string },
): NexusProcess {
  const [command, commandArgs] = nexusCommand(options.bin, args);
  const child = spawn(command, commandArgs, {
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env: {
      PATH: process.env.PATH ?? '',
      NEXUS_URL: options.url,
      ...(options.token === '' ? {} : { NEXUS_TOKEN: options.token }),
      LOG_LEVEL: 'info',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stdout = '';
  let stderr = '';
  const listeners: (() => void)[] = [];
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    onData(chunk);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    onData(chunk);
  });
  // 'close', not 'exit': by then every line the process wrote has been read.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const waitForLog = (text: string, timeoutMs = 20_000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`nexus ${args[0]} did not log "${text}" within ${timeoutMs} ms:\n${output}`)),
        timeoutMs,
      );
      const check = () => {
        if (output.includes(text)) {
          clearTimeout(timer);
          resolve();
        }
      };
      listeners.push(check);
      check();
    });
  return {
    child,
    logs: () => output,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForLog,
    async metricsUrl(timeoutMs = 20_000) {
      await waitForLog('"metricsUrl":"', timeoutMs);
      return /"metricsUrl":"([^"]+)"/.exec(output)?.[1] as string;
    },
    exited: () => exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
