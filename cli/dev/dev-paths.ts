/**
 * Where `nexus dev` keeps things (SPEC section 1, B.28, B.34, B.45). Everything lives in DATA
 * (default `./.nexus`) except, when the `postgres` OS user cannot reach DATA, the cluster (see
 * `cluster-location.ts`).
 */
import path from 'node:path';

export interface DevPaths {
  /** DATA, absolute. */
  data: string;
  /** The admin token clients read (`NEXUS_TOKEN_FILE`, mode 0600). */
  adminToken: string;
  /** The credential encryption key (`NEXUS_SECRET_KEY`, mode 0600, B.28). */
  secretKey: string;
  /** The password of the embedded cluster's `postgres` role (mode 0600). */
  postgresPassword: string;
  /** Guards against a second `nexus dev` on the same data (B.34). */
  pidFile: string;
  /** The pids of the runtimes this supervisor started, for clearing up after a killed supervisor. */
  childrenFile: string;
  /** Which database the homes' state belongs to (B.45). */
  databaseIdentity: string;
  /** One home per aspect, filled from `--agents` with `--config-from` (B.45). */
  homes: string;
  /** Minted tokens of the aspects (`<name>.token`, 0600) and their ids (`<name>.id`). */
  tokens: string;
  /** The broker's, the worker pool's, Postgres' and each runtime's log. */
  logs: string;
  /** The default place of the embedded cluster. */
  cluster: string;
}

export function devPaths(dataDir: string): DevPaths {
  const data = path.resolve(dataDir);
  return {
    data,
    adminToken: path.join(data, 'admin-token'),
    secretKey: path.join(data, 'secret-key'),
    postgresPassword: path.join(data, 'postgres-password'),
    pidFile: path.join(data, 'nexus.pid'),
    childrenFile: path.join(data, 'runtimes.json'),
    databaseIdentity: path.join(data, 'database-identity.json'),
    homes: path.join(data, 'homes'),
    tokens: path.join(data, 'tokens'),
    logs: path.join(data, 'logs'),
    cluster: path.join(data, 'pg'),
  };
}

/** A path as the user should read it: relative to the working directory when it is inside it. */
export function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}
