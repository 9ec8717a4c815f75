import { z } from 'zod';

/**
 * `script.json` of the scripted provider (B.52): a list of steps. For each provider call the
 * first step whose `match` (a regular expression) matches the newest inbound message wins; a step
 * without `match` is the default. `reply` is the text, `tool_calls` the calls it makes; once they
 * have results, `then` (default "done") ends the turn. `reply`, `then` and string values inside a
 * tool call's `input` may use `{{message.content}}`, `{{message.from}}` and `{{tool_result}}`.
 * docs/providers.md describes it.
 */
function isRegExp(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

export const ScriptToolCall = z.strictObject({
  name: z
    .string()
    .regex(/^[a-zA-Z][a-zA-Z0-9_-]*$/, 'must be a tool name')
    .max(256),
  input: z.record(z.string(), z.unknown()).default({}),
});
export type ScriptToolCall = z.infer<typeof ScriptToolCall>;

export const ScriptStep = z.strictObject({
  match: z.string().min(1).max(4096).refine(isRegExp, 'must be a valid regular expression').optional(),
  reply: z
    .string()
    .max(64 * 1024)
    .optional(),
  tool_calls: z.array(ScriptToolCall).max(16).optional(),
  then: z
    .string()
    .max(64 * 1024)
    .optional(),
  ttft_ms: z.number().int().min(0).max(600_000).optional(),
  tokens_per_s: z.number().positive().max(1_000_000).optional(),
});
export type ScriptStep = z.infer<typeof ScriptStep>;

export const Script = z.array(ScriptStep).max(1000);
export type Script = z.infer<typeof Script>;
