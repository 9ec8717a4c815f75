/**
 * Context windows and prices per model id (B.19; docs/models.md mirrors this table). An unknown
 * model needs `provider.context_window`; an unknown price means cost 0 and a warning.
 */
export interface ModelFacts {
  contextWindow: number;
  /** USD per million input tokens and per million output tokens. */
  inputUsdPerM: number;
  outputUsdPerM: number;
}

export const MODELS: Readonly<Record<string, ModelFacts>> = {
  'claude-opus-4-5': { contextWindow: 200_000, inputUsdPerM: 5, outputUsdPerM: 25 },
  'claude-sonnet-4-5': { contextWindow: 200_000, inputUsdPerM: 3, outputUsdPerM: 15 },
  'claude-haiku-4-5': { contextWindow: 200_000, inputUsdPerM: 1, outputUsdPerM: 5 },
  'claude-sonnet-4-0': { contextWindow: 200_000, inputUsdPerM: 3, outputUsdPerM: 15 },
  'gpt-4.1': { contextWindow: 1_047_576, inputUsdPerM: 2, outputUsdPerM: 8 },
  'gpt-4.1-mini': { contextWindow: 1_047_576, inputUsdPerM: 0.4, outputUsdPerM: 1.6 },
  'gpt-4o': { contextWindow: 128_000, inputUsdPerM: 2.5, outputUsdPerM: 10 },
};

/** The scripted provider's window unless aspect.json gives one (B.49). */
export const SCRIPTED_CONTEXT_WINDOW = 200_000;

/** The context window for a provider block, or null when it cannot be known (a validation error). */
export function contextWindowFor(provider: {
  kind: string;
  model?: string;
  context_window?: number;
}): number | null {
  if (provider.context_window) return provider.context_window;
  if (provider.kind === 'scripted') return SCRIPTED_CONTEXT_WINDOW;
  return provider.model ? (MODELS[provider.model]?.contextWindow ?? null) : null;
}

/** Cost of a call in USD; 0 for a model whose price is unknown. */
export function costUsd(model: string, inputTokens: number, outputTokens: number): number {
  const facts = MODELS[model];
  if (!facts) return 0;
  return (inputTokens * facts.inputUsdPerM + outputTokens * facts.outputUsdPerM) / 1_000_000;
}
