/**
 * Loading an aspect home folder (SPEC section 2): aspect.json validated by the one zod schema, the
 * identity documents, and state.json. A bad file is an error naming the file, the field path and
 * the reason; the runtime exits non-zero with it.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AspectConfig, firstIssueText, type AspectConfigInput } from '../../protocol/index.js';
import type { IdentityDocuments } from '../prompt/system-prompt.pure.js';

export class HomeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HomeError';
  }
}

export interface AspectHome {
  dir: string;
  config: AspectConfig;
  identity: IdentityDocuments;
  /** script.json as parsed JSON, when present (validated by the scripted provider). */
  script: unknown;
}

const MAX_IDENTITY_BYTES = 64 * 1024;

async function readOptional(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new HomeError(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

async function readJson(file: string): Promise<unknown> {
  const text = await readOptional(file);
  if (text === null) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    const position = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new HomeError(`${file}: not valid JSON${position ? ` at position ${position}` : ''}`);
  }
}

/** Parses aspect.json content; throws HomeError "FILE: field.path: reason". */
export function parseAspectConfig(file: string, value: unknown): AspectConfig {
  if (value === undefined) throw new HomeError(`${file}: missing`);
  const result = AspectConfig.safeParse(value as AspectConfigInput);
  if (!result.success) throw new HomeError(`${file}: ${firstIssueText(result.error)}`);
  return result.data;
}

async function readIdentity(dir: string, names: string[]): Promise<string> {
  for (const name of names) {
    const file = path.join(dir, name);
    const text = await readOptional(file);
    if (text === null) continue;
    if (Buffer.byteLength(text) > MAX_IDENTITY_BYTES) throw new HomeError(`${file}: must be at most 64 KiB`);
    return text;
  }
  return '';
}

export async function loadHome(dir: string): Promise<AspectHome> {
  const configFile = path.join(dir, 'aspect.json');
  const config = parseAspectConfig(configFile, await readJson(configFile));
  const identity: IdentityDocuments = {
    soul: await readIdentity(dir, ['SOUL.md']),
    agent: await readIdentity(dir, ['AGENT.md', 'CLAUDE.md']),
    primer: await readIdentity(dir, ['PRIMER.md']),
  };
  const script = await readJson(path.join(dir, 'script.json'));
  return { dir, config, identity, script };
}
