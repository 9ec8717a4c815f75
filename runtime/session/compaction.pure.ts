/**
 * When and what to compact (SPEC section 7, B.21, B.49). Pure: the caller supplies the replayed
 * entries and the token counts; the summariser and the file sit outside.
 */
import type { SessionEntry } from '../../protocol/index.js';
import { ELIDED_TOOL_RESULT } from './context.pure.js';

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
  /**
   * Kept tool results to replay as `ELIDED_TOOL_RESULT`, in branch order: those the compaction in
   * force already elided that are still kept, then the oldest others while the kept turns exceed
   * the budget (B.49). The compaction entry records them.
   */
  elidedToolResults: string[];
  /** Estimated tokens of the kept entries as they will be replayed (characters ÷ 4). */
  keptTokens: number;
}

export interface PlanOptions {
  /** What the kept turns may take (window − reserve); past it, kept tool results are elided. */
  keptBudgetTokens?: number;
  /** Tool results the compaction in force elided (`ReplayedContext.elided`). */
  elided?: ReadonlySet<string>;
}

/** Characters ÷ 4 of what an entry replays as: the estimate used where no usage is reported. */
export function entryTokens(entry: SessionEntry, elided: ReadonlySet<string> = new Set()): number {
  const chars = (text: string) => Math.ceil(text.length / 4);
  switch (entry.kind) {
    case 'turn.user':
      return chars(entry.payload.content);
    case 'turn.assistant':
      return (
        chars(entry.payload.content) +
        (entry.payload.tool_calls.length > 0 ? chars(JSON.stringify(entry.payload.tool_calls)) : 0)
      );
    case 'turn.tool_result':
      return chars(elided.has(entry.id) ? ELIDED_TOOL_RESULT : entry.payload.content);
    case 'branch_summary':
      return chars(entry.payload.summary);
    case 'custom.knowledge':
      return chars(JSON.stringify(entry.payload.hits ?? []));
    default:
      return 0;
  }
}

/**
 * Keeps the last `keepRecentTurns` turns (each opened by the `turn.user` of a batch) verbatim and summarises
 * everything before them. If the kept turns alone exceed `keptBudgetTokens`, their oldest tool
 * results are elided, one by one, until they fit or none is left (B.49). Returns null when there
 * is nothing older than the kept turns and nothing new to elide.
 */
export function planCompaction(
  replayed: readonly SessionEntry[],
  keepRecentTurns: number,
  options: PlanOptions = {},
): CompactionPlan | null {
  if (replayed.length === 0) return null;
  // B.21: a turn is one inbound batch and what follows it. Messages that joined a running turn (a
  // `turn.user` right after a tool result or after the turn's own `turn.user`) do not open one.
  const turnStarts = replayed.flatMap((e, i) => {
    const before = replayed[i - 1]?.kind;
    return e.kind === 'turn.user' && before !== 'turn.tool_result' && before !== 'turn.user' ? [i] : [];
  });
  const firstKeptIndex =
    turnStarts.length > keepRecentTurns ? (turnStarts[turnStarts.length - keepRecentTurns] as number) : 0;
  const toSummarise = replayed.slice(0, firstKeptIndex).filter((e) => e.kind !== 'system.prompt');
  const kept = replayed.slice(firstKeptIndex);

  const elided = new Set(kept.filter((e) => options.elided?.has(e.id)).map((e) => e.id));
  let keptTokens = kept.reduce((sum, e) => sum + entryTokens(e, elided), 0);
  let newlyElided = 0;
  const budget = options.keptBudgetTokens;
  if (budget !== undefined) {
    const markerTokens = Math.ceil(ELIDED_TOOL_RESULT.length / 4);
    for (const entry of kept) {
      if (keptTokens <= budget) break;
      if (entry.kind !== 'turn.tool_result' || elided.has(entry.id)) continue;
      const saved = entryTokens(entry) - markerTokens;
      if (saved <= 0) continue; // a result shorter than the marker stays
      elided.add(entry.id);
      keptTokens -= saved;
      newlyElided++;
    }
  }
  if (toSummarise.length === 0 && newlyElided === 0) return null;
  return {
    firstKeptEntryId: (replayed[firstKeptIndex] as SessionEntry).id,
    toSummarise,
    elidedToolResults: kept.filter((e) => elided.has(e.id)).map((e) => e.id),
    keptTokens,
  };
}
