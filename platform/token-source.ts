/**
 * Where a process's broker token comes from (SPEC section 3, B.34, B.72, B.80), in one place for
 * every command that takes one: `NEXUS_TOKEN_FILE` (a mounted Secret, re-read on every use so a
 * rotated token needs no restart), else `NEXUS_TOKEN`, else, for client commands only, the token
 * file `nexus dev` writes (`./.nexus/admin-token`). The file wins when both are set, as it does
 * for every `_FILE` setting (`secretSetting`): that is how Kubernetes rotates a Secret.
 *
 * A source can describe itself (`NEXUS_TOKEN`, `NEXUS_TOKEN_FILE=/path`) for B.80's last line, and
 * every failure to read says what was looked for and where, never the token.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from './config.js';

type Env = Record<string, string | undefined>;

/** The token of a process: read on each call, described for messages. */
export interface TokenSource {
  /** The token; a file is read again on each call. Throws `ConfigError` naming what was missing. */
  read(): string;
  /** Where the token comes from, for messages: `NEXUS_TOKEN` or `NEXUS_TOKEN_FILE=/path`. */
  readonly description: string;
  /** True when the token comes from a file, which may be rewritten while the process runs (B.80). */
  readonly fromFile: boolean;
}

/** The file `nexus dev` writes its admin token to, relative to the working folder (B.34). */
export const DEV_TOKEN_FILE = path.join('.nexus', 'admin-token');

/**
 * The token source the environment names. `devDefault` (client commands) falls back to
 * `./.nexus/admin-token`; runtimes and workers never guess a token.
 */
export function tokenSourceFromEnv(env: Env, options: { devDefault?: boolean } = {}): TokenSource {
  const file = env.NEXUS_TOKEN_FILE;
  const value = env.NEXUS_TOKEN;
  if (file) {
    const description = `NEXUS_TOKEN_FILE=${file}`;
    const whenMissing = value
      ? `the token file ${description} was not found (it wins over NEXUS_TOKEN)`
      : `neither NEXUS_TOKEN nor the token file ${description} was found`;
    return fileSource(file, description, whenMissing);
  }
  if (value) return { read: () => value, description: 'NEXUS_TOKEN', fromFile: false };
  if (options.devDefault) {
    const devFile = path.resolve(DEV_TOKEN_FILE);
    return fileSource(
      devFile,
      devFile,
      `neither NEXUS_TOKEN nor the token file ${devFile} (the nexus dev default) was found`,
    );
  }
  return {
    read: () => {
      throw new ConfigError('neither NEXUS_TOKEN nor NEXUS_TOKEN_FILE is set');
    },
    description: 'NEXUS_TOKEN',
    fromFile: false,
  };
}

/**
 * The token file is not there yet, or holds nothing: a mounted Secret that is written later (the
 * chart's post-install hook mints the operator's and the workers' tokens). `awaitTokenFile` waits
 * on it; every other failure to read is a misconfiguration.
 */
export class TokenFilePending extends ConfigError {}

function fileSource(file: string, description: string, whenMissing: string): TokenSource {
  return {
    description,
    fromFile: true,
    read() {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        if (code === 'ENOENT') throw new TokenFilePending(whenMissing);
        throw new ConfigError(`the token file ${description} could not be read (${code})`);
      }
      const token = text.trim();
      if (token === '') throw new TokenFilePending(`the token file ${description} is empty`);
      return token;
    },
  };
}
