/**
 * When and what to compact (SPEC section 7, B.21, B.49). Pure: the caller supplies the replayed
 * entries and the token counts; the summariser and the file sit outside.
 */
import type { SessionEntry } from '../../protocol/index.js';

export interface CompactionBudget {
  window: number;
  reserveTokens: number;
  keepRecentTurns: number;
}

// B.49's defaults live beside the model table, where aspect.json validation uses them too.
export { defaultMaxOutputTokens, defaultReserveTokens } from '../../protocol/index.js';

/** Compact after a turn when the context is past the window less the reserve. */
export function shouldCompact(
  tokens: number,
  budget: Pick<CompactionBudget, 'window' | 'reserveTokens'>,
): boolean {
  return tokens > budget.window - budget.reserveTokens;
}

export interface CompactionPlan {
  /** The first entry kept verbatim: the `turn.user` that opens the oldest kept turn. */
  firstKeptEntryId: string;
  /** What the summary must stand for, oldest first (a previous summary is part of it). */
  toSummarise: SessionEntry[];
}

/**
 * Keeps the last `keepRecentTurns` turns (each opened by a `turn.user`) verbatim and summarises
 * everything before them. Returns null when there is nothing older than the kept turns.
 */
export function planCompaction(
  replayed: readonly SessionEntry[],
  keepRecentTurns: number,
): CompactionPlan | null {
  const turnStarts = replayed.flatMap((e, i) => (e.kind === 'turn.user' ? [i] : []));
  if (turnStarts.length <= keepRecentTurns) return null;
  const firstKeptIndex = turnStarts[turnStarts.length - keepRecentTurns] as number;
  const toSummarise = replayed.slice(0, firstKeptIndex).filter((e) => e.kind !== 'system.prompt');
  if (toSummarise.length === 0) return null;
  return { firstKeptEntryId: (replayed[firstKeptIndex] as SessionEntry).id, toSummarise };
}
