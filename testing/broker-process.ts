import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built executable a user runs (SPEC B.43). */
export const NEXUS_BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '../dist/cli/main.js');

/**
 * How to spawn `nexus ARGS`: this tree's build through this Node, or `bin` itself (an executable
 * such as an image's `nexus` link, run by its `#!/usr/bin/env node` line: PATH must find node).
 */
export function nexusCommand(bin: string | undefined, args: string[]): [string, string[]] {
  return bin === undefined ? [process.execPath, [NEXUS_BIN, ...args]] : [bin, args];
}

/** A fresh admin token value, for NEXUS_BOOTSTRAP_TOKEN. */
export function newAdminTokenValue(): string {
  return `nxo_${randomBytes(32).toString('base64url')}`;
}

export interface BrokerProcess {
  url: string;
  port: number;
  /** The id the replica logs with `listening on` (and holds duties under, SPEC B.40). */
  replicaId: string;
  child: ChildProcess;
  /** Everything the process wrote to stderr so far (pino JSON lines). */
  logs(): string;
  /** SIGKILL: the process dies without any clean-up. */
  kill(): Promise<void>;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 45_000;

/** Settings that make fault bounds quick in tests (SPEC B.40). */
export const FAST_TEST_ENV = {
  NEXUS_POLL_MS: '200',
  LOG_LEVEL: 'info',
};

/** Spawns `nexus broker --port 0` and resolves once it logs the URL it listens on. */
export async function startBrokerProcess(options: {
  databaseUrl: string;
  bootstrapToken: string;
  env?: Record<string, string>;
  port?: number;
  migrate?: boolean;
  /** Another `nexus` executable to run (a production layout's); default: this tree's build. */
  bin?: string;
  /** Its working folder (default: the test's). */
  cwd?: string;
}): Promise<BrokerProcess> {
  const args = ['broker', '--port', String(options.port ?? 0)];
  if (options.migrate) args.push('--migrate');
  const [command, commandArgs] = nexusCommand(options.bin, args);
  const child = spawn(command, commandArgs, {
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      DATABASE_URL: options.databaseUrl,
      NEXUS_BOOTSTRAP_TOKEN: options.bootstrapToken,
      NEXUS_DB_POOL_MAX: '5',
      ...FAST_TEST_ENV,
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const listening = await new Promise<{ url: string; replicaId: string }>((resolve, reject) => {
    // Generous: on a loaded machine a cold Node start alone can take seconds. A broker that does
    // not come up is killed, so a failed start leaves no process behind.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`broker did not start within ${START_TIMEOUT_MS} ms:\n${output}`));
    }, START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split('\n').find((l) => l.includes('"listening on http://') && l.endsWith('}'));
      if (line) {
        clearTimeout(timer);
        try {
          resolve(parseListeningLine(line));
        } catch (err) {
          reject(err);
        }
      }
    };
    child.stderr?.on('data', onData);
    child.stdout?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`broker exited with ${code} before listening:\n${output}`));
    });
  });
  const { url, replicaId } = listening;
  return {
    url,
    port: Number(new URL(url).port),
    replicaId,
    child,
    logs: () => output,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Starts `count` replicas on one database; if one fails to start, the others are stopped too. */
export async function startBrokerProcesses(
  count: number,
  options: Parameters<typeof startBrokerProcess>[0],
): Promise<BrokerProcess[]> {
  const started = await Promise.allSettled(Array.from({ length: count }, () => startBrokerProcess(options)));
  const failure = started.find((s) => s.status === 'rejected');
  if (!failure) return started.map((s) => (s as PromiseFulfilledResult<BrokerProcess>).value);
  await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.stop() : undefined)));
  throw failure.reason;
}

/** The URL and replica id from the broker's `listening on` log line (pino JSON). */
function parseListeningLine(line: string): { url: string; replicaId: string } {
  const entry = JSON.parse(line) as { msg?: unknown; replicaId?: unknown };
  const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(String(entry.msg));
  if (!match || typeof entry.replicaId !== 'string') throw new Error(`unexpected listening line: ${line}`);
  return { url: match[1] as string, replicaId: entry.replicaId };
}

/** What a one-shot `nexus` run printed: stdout and stderr apart, and `output`, both in arrival order. */
export interface NexusRun {
  code: number | null;
  output: string;
  stdout: string;
  stderr: string;
}

/**
 * Runs a one-shot `nexus` command (for example `migrate`) and resolves with its exit code and output.
 * `stdin` is written and closed (stdin is empty otherwise); `cwd` is its working folder (client
 * commands look for `./.nexus/admin-token` there).
 */
export function runNexus(
  args: string[],
  env: Record<string, string>,
  options: { stdin?: string; cwd?: string; bin?: string } = {},
): Promise<NexusRun> {
  const [command, commandArgs] = nexusCommand(options.bin, args);
  const child = spawn(command, commandArgs, {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  let output = '';
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    stderr += chunk.toString();
  });
  child.stdin.end(options.stdin ?? '');
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output, stdout, stderr }));
  });
}
