/**
 * Which OS user runs the embedded PostgreSQL. The server refuses to run as root (TOOLCHAIN.md), so
 * as root it runs as the `postgres` OS user, created when missing (B.45); otherwise as ourselves.
 * Children are spawned with that uid and gid directly (libuv drops root's supplementary groups),
 * not through `runuser`, so the supervisor signals the server itself.
 */
import { spawnSync } from 'node:child_process';
import { ConfigError } from '../../platform/index.js';

export interface ServerUser {
  name: string;
  uid: number;
  gid: number;
}

function idOf(flag: '-u' | '-g', name: string): number | null {
  const result = spawnSync('id', [flag, name], { encoding: 'utf8' });
  const value = Number(result.stdout.trim());
  return result.status === 0 && Number.isInteger(value) ? value : null;
}

/** The user to run the server as: null means "as this process" (not root). */
export function serverUser(): ServerUser | null {
  if (process.getuid?.() !== 0) return null;
  if (idOf('-u', 'postgres') === null) {
    const made = spawnSync(
      'useradd',
      [
        '--system',
        '--user-group',
        '--no-create-home',
        '--home-dir',
        '/nonexistent',
        '--shell',
        '/usr/sbin/nologin',
        'postgres',
      ],
      { encoding: 'utf8' },
    );
    if (made.status !== 0)
      throw new ConfigError(
        `running as root, nexus dev needs a postgres OS user for the embedded PostgreSQL and could not create one (useradd: ${made.stderr.trim() || made.error?.message || 'failed'})`,
      );
  }
  const uid = idOf('-u', 'postgres');
  const gid = idOf('-g', 'postgres');
  if (uid === null || gid === null) throw new ConfigError('the postgres OS user has no uid or gid');
  return { name: 'postgres', uid, gid };
}

/**
 * The environment of every process run as the server user (initdb, postgres, the checks): what
 * the binaries need and nothing of the supervisor's own, whose secrets (ANTHROPIC_API_KEY,
 * NEXUS_SECRET_KEY, DATABASE_URL) any process of that OS user could read in /proc/PID/environ.
 */
export function serverEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    PATH: env.PATH ?? '/usr/bin:/bin',
    LANG: 'C',
    LC_ALL: 'C',
    ...(env.LD_LIBRARY_PATH ? { LD_LIBRARY_PATH: env.LD_LIBRARY_PATH } : {}),
  };
}

/** Whether `user` can run `test FLAG path` successfully: `-x` on a folder means it can reach inside. */
export function userCan(user: ServerUser | null, flag: '-x' | '-w' | '-r', file: string): boolean {
  const identity = user ? { uid: user.uid, gid: user.gid } : {};
  return spawnSync('test', [flag, file], { ...identity, cwd: '/', env: serverEnv() }).status === 0;
}
