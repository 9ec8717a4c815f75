/**
 * The model table (SPEC B.19; docs/models.md mirrors it): context window and USD per million input
 * and output tokens per model id, and B.49's defaults derived from the window. It lives in
 * protocol/ because validating aspect.json needs the windows (B.49: the file is rejected unless
 * `max_output_tokens + reserve_tokens < window`), and protocol/ imports nothing of ours; the
 * runtime reads prices and windows from here too, so there is one table.
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

/** `reserve_tokens` default: min(max(20 % of window, 10000), 50 % of window) (B.49). */
export function defaultReserveTokens(window: number): number {
  return Math.floor(Math.min(Math.max(0.2 * window, 10_000), 0.5 * window));
}

/** `max_output_tokens` default: min(4096, 25 % of window) (B.49). */
export function defaultMaxOutputTokens(window: number): number {
  return Math.floor(Math.min(4096, 0.25 * window));
}
