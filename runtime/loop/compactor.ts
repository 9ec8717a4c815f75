/**
 * Makes compactions and branch summaries by calling the provider (`invoke`), never inside the
 * provider (B.53). What to summarise is decided by the pure planner; this module renders it,
 * asks for the summary and appends the entry. A failed summary call writes nothing.
 */
import type { SessionEntry } from '../../protocol/index.js';
import { ELIDED_TOOL_RESULT, buildContext, type ContextMessage } from '../session/context.pure.js';
import { planCompaction } from '../session/compaction.pure.js';
import type { SessionFile } from '../session/session-file.js';
import type { Provider, ProviderRequest, ProviderResult } from '../providers/provider.js';
import { totalTokens } from '../providers/provider.js';

const SUMMARY_SYSTEM = `You write summaries of an agent's conversation so it can continue without the full transcript.
Keep: goals, decisions, facts learned, commitments made, open questions, who said what (names and
thread ids), and the state of any work in progress. Drop pleasantries and repetition. Write plain
prose or short lists; no preamble.`;

export interface SummariserDeps {
  provider: Provider;
  model: string;
  call(provider: Provider, request: ProviderRequest, signal: AbortSignal): Promise<ProviderResult>;
  signal: AbortSignal;
}

/** A transcript of entries as plain text for the summariser; elided tool results stay elided. */
export function transcript(
  entries: readonly SessionEntry[],
  previousSummary: string | null,
  elided: ReadonlySet<string> = new Set(),
): string {
  const lines: string[] = [];
  if (previousSummary) lines.push(`[Earlier summary]\n${previousSummary}`);
  for (const entry of entries) {
    switch (entry.kind) {
      case 'turn.user':
        lines.push(`[Inbound]\n${entry.payload.content}`);
        break;
      case 'turn.assistant':
        if (entry.payload.content) lines.push(`[Assistant]\n${entry.payload.content}`);
        for (const call of entry.payload.tool_calls)
          lines.push(`[Tool call ${call.name}] ${JSON.stringify(call.input)}`);
        break;
      case 'turn.tool_result':
        lines.push(
          `[Tool result${entry.payload.is_error ? ' (error)' : ''}] ${elided.has(entry.id) ? ELIDED_TOOL_RESULT : entry.payload.content}`,
        );
        break;
      case 'branch_summary':
        lines.push(`[Branch summary]\n${entry.payload.summary}`);
        break;
      default:
        break;
    }
  }
  return lines.join('\n\n');
}

async function summarise(deps: SummariserDeps, text: string, instruction: string): Promise<ProviderResult> {
  const messages: ContextMessage[] = [{ role: 'user', content: `${instruction}\n\n${text}` }];
  return deps.call(
    deps.provider,
    { model: deps.model, system: SUMMARY_SYSTEM, messages, tools: [], maxOutputTokens: 2048 },
    deps.signal,
  );
}

export interface CompactionResult {
  compactionId: string;
  tokensBefore: number;
  tokensAfter: number;
  /** Kept tool results the compaction replays as a marker (B.49). */
  elidedToolResults: number;
}

export interface CompactOptions {
  /**
   * What the kept turns may take, window − reserve (B.49): past it their oldest tool results are
   * elided. Without it, only the elisions of the compaction in force are carried over.
   */
  keptBudgetTokens?: number;
}

/**
 * Compacts the active branch, keeping the last `keepRecentTurns` turns; null when there is nothing
 * to compact. With nothing older than the kept turns but tool results to elide, the compaction
 * carries the previous summary (or none) and makes no summary call.
 */
export async function compact(
  session: SessionFile,
  keepRecentTurns: number,
  tokensBefore: number,
  deps: SummariserDeps,
  options: CompactOptions = {},
): Promise<CompactionResult | null> {
  const context = buildContext(session.entries, session.head);
  const plan = planCompaction(context.entries, keepRecentTurns, {
    elided: context.elided,
    ...(options.keptBudgetTokens === undefined ? {} : { keptBudgetTokens: options.keptBudgetTokens }),
  });
  if (!plan) return null;
  const previous = context.compactionId
    ? (session.get(context.compactionId) as Extract<SessionEntry, { kind: 'compaction' }>).payload.summary
    : null;
  let summary = previous ?? '';
  let model = deps.model;
  if (plan.toSummarise.length > 0) {
    const result = await summarise(
      deps,
      transcript(plan.toSummarise, previous, context.elided),
      'Summarise this conversation so far.',
    );
    summary = result.content;
    model = result.model;
  }
  const tokensAfter = estimateTokens(summary) + plan.keptTokens;
  const [entry] = await session.append([
    {
      kind: 'compaction',
      payload: {
        first_kept_entry_id: plan.firstKeptEntryId,
        summary,
        tokens_before: tokensBefore,
        tokens_after: tokensAfter,
        model,
        ...(plan.elidedToolResults.length > 0 ? { elided_tool_results: plan.elidedToolResults } : {}),
      },
    },
  ]);
  return {
    compactionId: (entry as SessionEntry).id,
    tokensBefore,
    tokensAfter,
    elidedToolResults: plan.elidedToolResults.length,
  };
}

/** Summarises the branch from `fromEntryId` to its leaf; the caller attaches it (rewind, summarise-branch). */
export async function summariseBranch(
  session: SessionFile,
  fromEntryId: string,
  leafId: string,
  deps: SummariserDeps,
): Promise<string> {
  const { entries: branch, elided } = buildContext(session.entries, leafId);
  const start = branch.findIndex((e) => e.id === fromEntryId);
  const result = await summarise(
    deps,
    transcript(start >= 0 ? branch.slice(start) : branch, null, elided),
    'Summarise what was explored on this branch and what came of it.',
  );
  return result.content;
}

/** Characters ÷ 4: a cheap estimate used only where no usage is reported. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

export { totalTokens };
