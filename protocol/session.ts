import { z } from 'zod';
import { DecimalId } from './names.js';

/**
 * The session file format (SPEC section 7, B.13, B.56), version 1. Line 1 is a header; every other
 * line is one entry. The envelope keeps section 7's names (`id`, `parentId`, `kind`, `ts`,
 * `payload`); every other field is snake_case. docs/session-format.md describes each kind.
 */
export const SESSION_FORMAT_VERSION = 1;

const EntryId = z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'must be a ULID');

export const SessionHeader = z.strictObject({
  nexus_session: z.literal(SESSION_FORMAT_VERSION, { error: `must be ${SESSION_FORMAT_VERSION}` }),
  sid: z.string().min(1).max(128),
  created_at: z.iso.datetime({ offset: true }),
  forked_from: z.strictObject({ sid: z.string().min(1).max(128), entry_id: EntryId }).optional(),
});
export type SessionHeader = z.infer<typeof SessionHeader>;

export const ToolCall = z.strictObject({
  id: z.string().min(1).max(256),
  name: z.string().min(1).max(256),
  input: z.unknown(),
});
export type ToolCall = z.infer<typeof ToolCall>;

export const Usage = z.strictObject({
  input_tokens: z.number().int().min(0),
  output_tokens: z.number().int().min(0),
  cache_read_input_tokens: z.number().int().min(0).default(0),
  cache_creation_input_tokens: z.number().int().min(0).default(0),
});
export type Usage = z.infer<typeof Usage>;

const envelope = {
  id: EntryId,
  parentId: EntryId.nullable(),
  ts: z.iso.datetime({ offset: true }),
};

/** Entries of the kinds the runtime replays, by `kind`. */
export const KnownSessionEntry = z.discriminatedUnion('kind', [
  z.strictObject({
    ...envelope,
    kind: z.literal('system.prompt'),
    payload: z.strictObject({ text: z.string() }),
  }),
  z.strictObject({
    ...envelope,
    kind: z.literal('turn.user'),
    payload: z.strictObject({
      content: z.string(),
      message_ids: z.array(DecimalId).default([]),
      thread_id: DecimalId.optional(),
    }),
  }),
  z.strictObject({
    ...envelope,
    kind: z.literal('turn.assistant'),
    payload: z.strictObject({
      content: z.string(),
      tool_calls: z.array(ToolCall).default([]),
      usage: Usage.optional(),
      model: z.string().optional(),
      stop_reason: z.string().optional(),
    }),
  }),
  z.strictObject({
    ...envelope,
    kind: z.literal('turn.tool_result'),
    payload: z.strictObject({
      tool_call_id: z.string().min(1),
      content: z.string(),
      is_error: z.boolean().default(false),
    }),
  }),
  z.strictObject({
    ...envelope,
    kind: z.literal('compaction'),
    payload: z.strictObject({
      first_kept_entry_id: EntryId,
      summary: z.string(),
      tokens_before: z.number().int().min(0),
      tokens_after: z.number().int().min(0),
      model: z.string(),
      // B.49: tool results among the kept entries replayed as a short marker, because the kept
      // turns alone exceeded the budget. Absent means none.
      elided_tool_results: z.array(EntryId).max(100_000).optional(),
    }),
  }),
  z.strictObject({
    ...envelope,
    kind: z.literal('branch_summary'),
    payload: z.strictObject({ summary: z.string(), from_entry_id: EntryId }),
  }),
]);

/** `custom.*` entries: bookkeeping (turn ends, control, knowledge hits) with free payloads. */
export const CustomSessionEntry = z.strictObject({
  ...envelope,
  kind: z.templateLiteral(['custom.', z.string().regex(/^[a-z0-9_.]+$/)]),
  payload: z.record(z.string(), z.unknown()),
});

/** One line of a session file after the header. */
export const SessionEntry = z.union([KnownSessionEntry, CustomSessionEntry]);
export type SessionEntry = z.infer<typeof SessionEntry>;
export type KnownSessionEntry = z.infer<typeof KnownSessionEntry>;
export type CustomSessionEntry = z.infer<typeof CustomSessionEntry>;

const KNOWN_KINDS = KnownSessionEntry.options.map((o) => o.shape.kind.value);

/**
 * Parses one entry, choosing the schema by `kind` so the error names the field that is wrong
 * rather than "no union member matched".
 */
export function parseSessionEntry(value: unknown): z.ZodSafeParseResult<SessionEntry> {
  const kind = typeof value === 'object' && value !== null ? (value as { kind?: unknown }).kind : undefined;
  if (typeof kind === 'string' && kind.startsWith('custom.')) return CustomSessionEntry.safeParse(value);
  if (typeof kind === 'string' && (KNOWN_KINDS as string[]).includes(kind))
    return KnownSessionEntry.safeParse(value);
  return z
    .object({
      kind: z
        .string({ error: 'is required' })
        .refine(() => false, `must be one of ${KNOWN_KINDS.join(', ')} or custom.NAME`),
    })
    .safeParse(value) as z.ZodSafeParseResult<SessionEntry>;
}
export type SessionEntryKind = SessionEntry['kind'];

/** The `.head` file beside a session: the active entry and how many lines the file had then. */
export const HeadFile = z.strictObject({ id: EntryId, lines: z.number().int().min(1) });
export type HeadFile = z.infer<typeof HeadFile>;
