/**
 * Model facts for the runtime. The table itself is in protocol/models.ts (aspect.json validation
 * needs the windows); this module adds what only the runtime does with it: cost.
 */
import { MODELS } from '../../protocol/index.js';

export { MODELS, SCRIPTED_CONTEXT_WINDOW, contextWindowFor, type ModelFacts } from '../../protocol/index.js';

/** Cost of a call in USD; null for a model whose price is unknown (B.19: counted 0, with a warning). */
export function costUsd(model: string, inputTokens: number, outputTokens: number): number | null {
  const facts = MODELS[model];
  if (!facts) return null;
  return (inputTokens * facts.inputUsdPerM + outputTokens * facts.outputUsdPerM) / 1_000_000;
}
