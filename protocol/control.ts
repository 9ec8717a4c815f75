import { z } from 'zod';
import { Content, DecimalId } from './names.js';

/** Session ids: `global`, a thread id, or a global fork `fork-<id>` (B.12). */
export const SessionId = z
  .string()
  .regex(/^(global|[0-9]{1,19}|fork-[A-Za-z0-9]{1,64})$/, 'must be global, a thread id or fork-ID');
const EntryId = z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'must be a session entry id (ULID)');

/** Admin control bodies, forwarded to the runtime as `control` frames (SPEC section 3, B.12, B.48, B.50). */
export const RewindRequest = z.strictObject({
  thread_id: DecimalId.optional(),
  target_entry_id: EntryId,
  emit_branch_summary: z.boolean().default(true),
});
export const CompactRequest = z.strictObject({ thread_id: DecimalId.optional() });
export const SummariseBranchRequest = z.strictObject({
  thread_id: DecimalId.optional(),
  from_entry_id: EntryId,
});
/**
 * Fork (B.20, B.50): a copy of the ancestry of `source_entry_id` in a new thread (thread mode) or a
 * new global session that becomes the active one (global mode). With `seed_user_message` the source
 * must be a `turn.user`; the copy stops at its parent and the seed arrives as an ordinary message.
 */
export const ForkRequest = z.strictObject({
  thread_id: DecimalId.optional(),
  source_entry_id: EntryId,
  seed_user_message: Content.optional(),
});
/** The `control` frame's params for a fork: the admin's body plus the thread id the broker reserved. */
export const ForkParams = ForkRequest.extend({ new_thread_id: DecimalId.optional() });
/** The runtime's answer to a fork; `head` is null only for a fork that copied nothing. */
export const ForkReply = z.union([
  z.strictObject({ thread_id: DecimalId, head: EntryId.nullable() }),
  z.strictObject({ session: SessionId, head: EntryId.nullable() }),
]);
export type ForkReply = z.infer<typeof ForkReply>;
/** `activate {sid}` (B.12, B.50): global mode only; `global` or a global fork `fork-<id>`. */
export const ActivateRequest = z.strictObject({ sid: SessionId });
export const ActivateReply = z.strictObject({ session: SessionId, head: EntryId.nullable() });
export const TreeQuery = z.strictObject({
  after: EntryId.optional(),
  limit: z.coerce.number().int().min(1).max(2000).default(500),
  wait_s: z.coerce.number().int().min(0).max(300).default(30),
});
export const ControlWaitQuery = z.strictObject({
  wait_s: z.coerce.number().int().min(0).max(300).default(30),
});
export const ControlRequestPath = z.strictObject({ name: z.string(), request_id: DecimalId });

export const ControlAction = z.enum([
  'rewind',
  'compact',
  'summarise-branch',
  'fork',
  'activate',
  'list_sessions',
  'tree',
  'shutdown',
]);
export type ControlAction = z.infer<typeof ControlAction>;

/** The state of a control request as `GET /v1/aspects/:name/control/:request_id` shows it. */
export const ControlState = z.object({
  request_id: DecimalId,
  action: ControlAction,
  state: z.enum(['pending', 'done', 'failed']),
  result: z.unknown().optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});
export type ControlState = z.infer<typeof ControlState>;
