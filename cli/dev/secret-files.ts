/**
 * The secrets `nexus dev` keeps in DATA, each made once and kept with mode 0600: the admin token
 * (the broker's bootstrap token, named `bootstrap`), the credential key (B.28) and the embedded
 * cluster's password. A second start reads the same values, so tokens and stored credentials
 * keep working.
 */
import { randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { ConfigError } from '../../platform/index.js';
import { looksLikeToken, newTokenValue } from '../../broker/auth/token-format.js';
import { shown } from './dev-paths.js';

/** Reads `file`, or writes `make()` to it (0600) when it does not exist yet. */
async function readOrCreate(file: string, make: () => string): Promise<string> {
  try {
    const value = (await readFile(file, 'utf8')).trim();
    await chmod(file, 0o600); // a copy made with a looser mode is tightened
    return value;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const value = make();
  try {
    await writeFile(file, `${value}\n`, { mode: 0o600, flag: 'wx' });
    return value;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return (await readFile(file, 'utf8')).trim();
    throw err;
  }
}

/** `DATA/admin-token`: an `nxo_` token the broker ensures as its bootstrap token. */
export async function adminTokenFile(file: string): Promise<string> {
  const token = await readOrCreate(file, () => newTokenValue('admin'));
  if (!looksLikeToken(token) || !token.startsWith('nxo_'))
    throw new ConfigError(`${shown(file)}: not an nxo_ token; delete it and a new one is made`);
  return token;
}

/** `DATA/secret-key`: 32 random bytes in base64 (NEXUS_SECRET_KEY, B.28). */
export function secretKeyFile(file: string): Promise<string> {
  return readOrCreate(file, () => randomBytes(32).toString('base64'));
}

/** `DATA/postgres-password`: the embedded cluster's superuser password. */
export function postgresPasswordFile(file: string): Promise<string> {
  return readOrCreate(file, () => randomBytes(24).toString('base64url'));
}
