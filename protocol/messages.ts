import { z } from 'zod';
import { Address, AspectName, Content, DecimalId, JsonInput, Traceparent } from './names.js';

export const MessageKind = z.enum(['chat', 'hand', 'hand_result', 'system']);
export type MessageKind = z.infer<typeof MessageKind>;

/**
 * A message as a client sends it (`POST /v1/messages`, WS `send`). `from` is accepted only when it
 * equals the caller (SPEC B.8); clients may send `kind: "chat"` only (B.11).
 */
export const SendRequest = z.strictObject({
  content: Content,
  to: z.array(Address).max(100, 'must name at most 100 recipients').optional(),
  thread_id: DecimalId.optional(),
  kind: z.literal('chat', { error: 'clients may send kind "chat" only' }).optional(),
  from: z.string().max(64).optional(),
  input: JsonInput.optional(),
  reply_to: DecimalId.optional(),
  traceparent: Traceparent.optional(),
  idempotency_key: z.string().min(1).max(128, 'must be at most 128 characters').optional(),
});
export type SendRequest = z.infer<typeof SendRequest>;

/** The reply to a send: 201 for a new message, 200 for an idempotent repeat. */
export const SendReply = z.strictObject({
  id: DecimalId,
  thread_id: DecimalId,
  created_at: z.string(),
  held_for: z.array(z.string()).optional(),
});
export type SendReply = z.infer<typeof SendReply>;

/** A persisted message as the broker delivers and lists it (SPEC Appendix A). */
export const Message = z.strictObject({
  id: DecimalId,
  thread_id: DecimalId,
  from: z.string(),
  to: z.array(z.string()),
  kind: MessageKind,
  hand: z.string().optional(),
  content: z.string(),
  input: z.unknown().optional(),
  reply_to: DecimalId.optional(),
  traceparent: z.string().optional(),
  created_at: z.string(),
  /** Set when the message took its thread past NEXUS_THREAD_TURN_LIMIT: no turn is taken for it (B.83). */
  turn_limit: z.boolean().optional(),
});
export type Message = z.infer<typeof Message>;

const Limit = z.coerce.number().int().min(1).max(1000);
const Order = z.enum(['asc', 'desc']);

/** The path of `GET /v1/threads/:id`. */
export const ThreadPath = z.object({ id: DecimalId });

/** `GET /v1/messages` query (SPEC Appendix A, B.2, B.60). */
export const HistoryQuery = z.strictObject({
  thread_id: DecimalId.optional(),
  after: DecimalId.optional(),
  before: DecimalId.optional(),
  limit: Limit.default(100),
  order: Order.default('asc'),
});
export type HistoryQuery = z.infer<typeof HistoryQuery>;

/** `GET /v1/threads` query. */
export const ThreadsQuery = z.strictObject({
  after: DecimalId.optional(),
  before: DecimalId.optional(),
  limit: Limit.default(100),
  order: Order.default('asc'),
});
export type ThreadsQuery = z.infer<typeof ThreadsQuery>;

export const Thread = z.object({
  id: DecimalId,
  participants: z.array(z.string()),
  last_message: Message.nullable(),
  updated_at: z.string(),
});
export type Thread = z.infer<typeof Thread>;

export { AspectName };
