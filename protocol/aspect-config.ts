import { z } from 'zod';
import { contextWindowFor, defaultMaxOutputTokens, defaultReserveTokens } from './models.js';
import { AspectName, JsonObject, utf8Bytes } from './names.js';
import { inputSchemaDefect } from './input-schema.js';

/** A Hand's declaration inside aspect.json (SPEC section 6, B.14, B.30). */
export const HandDeclaration = z.strictObject({
  name: AspectName,
  description: z.string().max(4096, 'must be at most 4096 characters'),
  system_prompt: z
    .string()
    .max(65_536, 'must be at most 65536 characters')
    .refine((s) => utf8Bytes(s) <= 64 * 1024, 'must be at most 64 KiB')
    .default(''),
  tools: z
    .array(z.enum(['knowledge_search', 'knowledge_store']))
    .max(64)
    .default([]),
  timeout_s: z.number().int().min(1).max(7200).default(60),
  allowed_invokers: z
    .array(z.union([AspectName, z.literal('*')]))
    .max(64)
    .default(['*']),
  concurrency: z.number().int().min(1).max(64).default(2),
  input_schema: JsonObject.optional(),
});
export type HandDeclaration = z.infer<typeof HandDeclaration>;

const ProviderKind = z.enum(['claude-api', 'openai-compatible', 'scripted']);

/** `provider` block: which LLM adapter runs the aspect (SPEC section 2, B.49, B.53). */
export const ProviderConfig = z.strictObject({
  kind: ProviderKind,
  model: z.string().min(1).max(256).optional(),
  credential: z.string().max(253).nullable().optional(),
  base_url: z
    .url({ protocol: /^https?$/, error: 'must be an http or https URL' })
    .max(2048, 'must be at most 2048 characters')
    .optional(),
  context_window: z.number().int().min(1024).max(10_000_000).optional(),
  max_output_tokens: z.number().int().min(1).max(1_000_000).optional(),
  token_param: z.enum(['max_tokens', 'max_completion_tokens']).optional(),
  offline: z.strictObject({ kind: z.literal('scripted') }).optional(),
  /** An embedding model of the same endpoint, for hybrid knowledge search (B.90). */
  embedding_model: z.string().min(1).max(256).optional(),
});
export type ProviderConfig = z.infer<typeof ProviderConfig>;

// Bounds on every string, list and map (B.65): the CRD's CEL cost is bounded by them, and aspect.json
// keeps the same limits so the two never disagree.
const McpServer = z.strictObject({
  name: AspectName,
  command: z.string().min(1).max(4096),
  args: z.array(z.string().max(4096)).max(64).default([]),
  env: z
    .record(z.string().max(253), z.string().max(4096))
    .refine((env) => Object.keys(env).length <= 64, 'must have at most 64 entries')
    .meta({ maxProperties: 64 })
    .default({}),
});

/** The fields of `aspect.json` (SPEC section 2), without the cross-field rules. */
export const AspectConfigFields = z.strictObject({
  name: AspectName,
  role: z.enum(['aspect', 'frame']).default('aspect'),
  context_mode: z.enum(['global', 'thread', 'stateless']),
  provider: ProviderConfig,
  compaction: z
    .strictObject({
      reserve_tokens: z.number().int().min(0).optional(),
      keep_recent_turns: z.number().int().min(1).max(1000).default(6),
    })
    .default({ keep_recent_turns: 6 }),
  deliberation: z
    .strictObject({ max_turns: z.number().int().min(1).max(100).default(8) })
    .default({ max_turns: 8 }),
  tools: z
    .array(
      z
        .string()
        .max(128, 'must be at most 128 characters')
        .regex(/^[a-z][a-z0-9_]*(__[a-zA-Z0-9_-]+)?$/, 'must be a tool name'),
    )
    .max(64)
    .default(['send_message', 'dispatch_hand', 'knowledge_search', 'knowledge_store']),
  mcp_servers: z.array(McpServer).max(16).default([]),
  hands: z.array(HandDeclaration).max(64).default([]),
  hand_concurrency: z.number().int().min(1).max(64).default(2),
  thread_idle_reap_s: z.number().int().min(1).default(1800),
  thread_sweep_interval_s: z.number().int().min(1).default(300),
  knowledge: z
    .strictObject({
      active_retrieval: z.boolean().default(true),
      top_k: z.number().int().min(1).max(50).default(3),
      min_score: z.number().min(0).default(0.05),
      scope: z
        .strictObject({
          own: z.boolean().default(true),
          shared: z.boolean().default(true),
          peers: z.array(AspectName).max(64).default([]),
        })
        .default({ own: true, shared: true, peers: [] }),
    })
    .optional(),
  comms: z
    .strictObject({
      send_to: z
        .array(z.union([AspectName, z.literal('*')]))
        .max(64)
        .default(['*']),
    })
    .default({ send_to: ['*'] }),
  metadata: JsonObject.default({}),
});

/** The aspect home's configuration file, `aspect.json`, with its cross-field rules. */
export const AspectConfig = AspectConfigFields.superRefine(addAspectConfigIssues);
export type AspectConfig = z.infer<typeof AspectConfig>;
/** aspect.json as written by hand, before defaults are filled in. */
export type AspectConfigInput = z.input<typeof AspectConfig>;

type ParsedConfig = z.output<typeof AspectConfigFields>;
interface CrossFieldProblem {
  path: (string | number)[];
  message: string;
}

/** Cross-field rules, run in order; each returns the first problem or null. */
const aspectConfigChecks: ((config: ParsedConfig) => CrossFieldProblem | null)[] = [
  function checkMcpNotYet(config) {
    return config.mcp_servers.length > 0
      ? { path: ['mcp_servers'], message: 'mcp_servers is not supported yet' }
      : null;
  },
  function checkModelPresent(config) {
    return config.provider.kind !== 'scripted' && !config.provider.model
      ? { path: ['provider', 'model'], message: 'is required unless provider.kind is scripted' }
      : null;
  },
  function checkWindowKnown(config) {
    // B.19: without a window there is no compaction arithmetic, so the runtime could not run.
    if (!config.provider.model || contextWindowFor(config.provider) !== null) return null;
    return {
      path: ['provider', 'context_window'],
      message: 'is required for a model not in the model table (docs/models.md)',
    };
  },
  function checkWindowBudget(config) {
    // B.49: the reply and the compaction headroom must both fit in the window.
    const window = contextWindowFor(config.provider);
    if (window === null) return null;
    const maxOutput = config.provider.max_output_tokens ?? defaultMaxOutputTokens(window);
    const reserve = config.compaction.reserve_tokens ?? defaultReserveTokens(window);
    if (maxOutput + reserve < window) return null;
    // The defaults always fit (at most 25 % + 50 %), so one of the two was given: name that one.
    return {
      path:
        config.compaction.reserve_tokens !== undefined
          ? ['compaction', 'reserve_tokens']
          : ['provider', 'max_output_tokens'],
      message: `max_output_tokens (${maxOutput}) + reserve_tokens (${reserve}) must be less than the context window (${window})`,
    };
  },
  function checkEmbeddingModelEndpoint(config) {
    // B.90: embeddings come from an openai-compatible endpoint's embedding_model.
    return config.provider.embedding_model !== undefined && config.provider.kind !== 'openai-compatible'
      ? {
          path: ['provider', 'embedding_model'],
          message: 'is supported only with provider.kind openai-compatible',
        }
      : null;
  },
  function checkUniqueHands(config) {
    const seen = new Set<string>();
    for (const [i, hand] of config.hands.entries()) {
      if (seen.has(hand.name))
        return { path: ['hands', i, 'name'], message: `duplicate hand name "${hand.name}"` };
      seen.add(hand.name);
    }
    return null;
  },
  function checkHandInputSchemas(config) {
    for (const [i, hand] of config.hands.entries()) {
      const defect = hand.input_schema ? inputSchemaDefect(hand.input_schema) : null;
      if (defect) return { path: ['hands', i, 'input_schema'], message: defect };
    }
    return null;
  },
  function checkConfigSize(config) {
    return utf8Bytes(JSON.stringify(config)) > 512 * 1024
      ? { path: [], message: 'aspect.json must be at most 512 KiB' }
      : null;
  },
];

/** Runs the cross-field rules and reports each problem as a zod issue; reused by the register body. */
export function addAspectConfigIssues(config: ParsedConfig, ctx: z.RefinementCtx): void {
  for (const check of aspectConfigChecks) {
    const problem = check(config);
    if (problem) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
  }
}
