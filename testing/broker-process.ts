import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built executable a user runs (SPEC B.43). */
export const NEXUS_BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '../dist/cli/main.js');

/** A fresh admin token value, for NEXUS_BOOTSTRAP_TOKEN. */
export function newAdminTokenValue(): string {
  return `nxo_${randomBytes(32).toString('base64url')}`;
}

export interface BrokerProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything the process wrote to stderr so far (pino JSON lines). */
  logs(): string;
  /** SIGKILL: the process dies without any clean-up. */
  kill(): Promise<void>;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
}

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
}): Promise<BrokerProcess> {
  const args = [NEXUS_BIN, 'broker', '--port', String(options.port ?? 0)];
  if (options.migrate) args.push('--migrate');
  const child = spawn(process.execPath, args, {
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
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`broker did not start within 15 s:\n${output}`)), 15_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    };
    child.stderr?.on('data', onData);
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`broker exited with ${code} before listening:\n${output}`));
    });
  });
  return {
    url,
    port: Number(new URL(url).port),
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
