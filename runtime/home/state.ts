/**
 * state.json: the runtime's bookkeeping in the home folder — the last message id it fully
 * processed and its instance id (kept across restarts so a restart re-registers as the same
 * instance instead of waiting for the old one to go stale). Written atomically by rename + fsync.
 */
import { randomUUID } from 'node:crypto';
import { open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { DecimalId, firstIssueText } from '../../protocol/index.js';
import { HomeError } from './home.js';

export const RuntimeState = z.strictObject({
  instance_id: z.string().min(1).max(128),
  last_processed_id: DecimalId,
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
