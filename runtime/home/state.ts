/**
 * state.json: the runtime's bookkeeping in the home folder — the last message id it fully
 * processed, its instance id (kept across restarts so a restart re-registers as the same instance
 * instead of waiting for the old one to go stale) and the identity of the database those ids came
 * from (B.45). Written atomically by rename + fsync.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { DecimalId, firstIssueText } from '../../protocol/index.js';
import { HomeError } from './home.js';

export const RuntimeState = z.strictObject({
  instance_id: z.string().min(1).max(128),
  last_processed_id: DecimalId,
  /** The broker database's identity (B.45) this state belongs to; absent until the first registration. */
  nexus_instance: z.string().min(1).max(128).optional(),
});
export type RuntimeState = z.infer<typeof RuntimeState>;

export async function loadState(home: string): Promise<RuntimeState> {
  const file = path.join(home, 'state.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      return { instance_id: randomUUID(), last_processed_id: '0' };
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HomeError(`${file}: not valid JSON`);
  }
  const result = RuntimeState.safeParse(value);
  if (!result.success) throw new HomeError(`${file}: ${firstIssueText(result.error)}`);
  return result.data;
}

export async function saveState(home: string, state: RuntimeState): Promise<void> {
  const file = path.join(home, 'state.json');
  const temp = `${file}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.write(`${JSON.stringify(state)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
}

/**
 * Moves what a home holds against one database (`state.json` and `session/`) into
 * `discarded-<time>/` inside the home: kept, never deleted. Returns that folder, or null when there
 * was nothing to move.
 */
export async function discardDatabaseState(home: string): Promise<string | null> {
  const target = path.join(home, `discarded-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  let moved = false;
  for (const name of ['state.json', 'session']) {
    const from = path.join(home, name);
    if (!(await stat(from).catch(() => null))) continue;
    await mkdir(target, { recursive: true });
    await rename(from, path.join(target, name));
    moved = true;
  }
  return moved ? target : null;
}
