import { readFileSync } from 'node:fs';

/** A setting that could not be read: names the variable and why, never its value. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** A required string setting. */
export function requireString(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') throw new ConfigError(`${name} is required`);
  return value;
}

/** An integer setting with a default and bounds. */
export function intSetting(
  env: Env,
  name: string,
  fallback: number,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** A number setting (fractions allowed) with a default and bounds. */
export function numberSetting(
  env: Env,
  name: string,
  fallback: number,
  min = 0,
  max = Number.MAX_VALUE,
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a number from ${min} to ${max}`);
  }
  return value;
}

/**
 * Reads a secret given as `NAME` or as a file named by `NAME_FILE` (a mounted Secret).
 * The file wins when both are set, since that is how Kubernetes rotates it; trailing newlines go.
 */
export function secretSetting(env: Env, name: string): string | undefined {
  const file = env[`${name}_FILE`];
  if (file) {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new ConfigError(
        `${name}_FILE could not be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
  }
  const value = env[name];
  return value === '' ? undefined : value;
}
