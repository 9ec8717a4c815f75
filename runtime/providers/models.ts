/**
 * Model facts for the runtime. The table itself is in protocol/models.ts (aspect.json validation
 * needs the windows); this module adds what only the runtime does with it: cost.
 */
import { MODELS } from '../../protocol/index.js';

export { MODELS, SCRIPTED_CONTEXT_WINDOW, contextWindowFor, type ModelFacts } from '../../protocol/index.js';

/** Cost of a call in USD; 0 for a model whose price is unknown. */
export function costUsd(model: string, inputTokens: number, outputTokens: number): number {
  const facts = MODELS[model];
  if (!facts) return 0;
  return (inputTokens * facts.inputUsdPerM + outputTokens * facts.outputUsdPerM) / 1_000_000;
}
