import { z } from 'zod';
import { AspectName, DecimalId, InstanceId, IsoTime, JsonObject, JsonValue } from './names.js';
import { Message, SendReply, SendRequest } from './messages.js';
import { ErrorCode } from './errors.js';

const Ref = z.string().min(1).max(64, 'must be at most 64 characters');

/** Client → broker frames of `/v1/connect` (SPEC section 4, B.9). */
export const HelloFrame = z.strictObject({
  type: z.literal('hello'),
  token: z.string().max(512).optional(),
  instance_id: InstanceId.optional(),
  resume_after: DecimalId.optional(),
  mailbox: z.boolean().optional(),
});
export const SendFrame = z.strictObject({ type: z.literal('send'), ref: Ref, message: SendRequest });
export const AckFrame = z.strictObject({ type: z.literal('ack'), id: DecimalId });
export const SubscribeFrame = z.strictObject({
  type: z.literal('subscribe'),
  threads: z
    .union([z.array(DecimalId).max(1000), z.literal('*')], {
      error: 'must be "*" or a list of at most 1000 thread ids',
    })
    .optional(),
  observe: AspectName.optional(),
});
export const PingFrame = z.strictObject({ type: z.literal('ping'), ts: z.number().optional() });
export const PongFrame = z.strictObject({ type: z.literal('pong'), ts: z.number().optional() });
export const PublishFrame = z.strictObject({
  type: z.literal('publish'),
  event: z.strictObject({
    kind: z.string().min(1).max(64),
    ts: IsoTime,
    // null for a global session's events (B.88)
    thread_id: DecimalId.nullable().optional(),
    data: JsonObject.default({}),
  }),
});
export const ControlResultFrame = z.strictObject({
  type: z.literal('control.result'),
  request_id: DecimalId,
  ok: z.boolean(),
  result: JsonValue.optional(),
  error: z.strictObject({ code: z.string(), message: z.string() }).optional(),
});

const clientFrames = [
  HelloFrame,
  SendFrame,
  AckFrame,
  SubscribeFrame,
  PingFrame,
  PongFrame,
  PublishFrame,
  ControlResultFrame,
] as const;
/** The `type` of every client frame, in the order above. */
export const CLIENT_FRAME_TYPES = clientFrames.map((o) => o.shape.type.value);

/** Every frame a client may send, discriminated by `type`. */
export const ClientFrame = z.discriminatedUnion('type', clientFrames, {
  // Only the union's own issue (no or an unknown `type`); issues inside a frame keep their messages.
  error: (issue) =>
    issue.code === 'invalid_union' ? `must be one of ${CLIENT_FRAME_TYPES.join(', ')}` : undefined,
});
export type ClientFrame = z.infer<typeof ClientFrame>;
export type HelloFrame = z.infer<typeof HelloFrame>;
export type SubscribeFrame = z.infer<typeof SubscribeFrame>;

export const Identity = z.strictObject({
  kind: z.enum(['aspect', 'worker', 'admin']),
  name: z.string(),
  admin: z.boolean(),
});
export type Identity = z.infer<typeof Identity>;

/** Broker → client frames. */
export const WelcomeFrame = z.strictObject({
  type: z.literal('welcome'),
  identity: Identity,
  heartbeat_interval_s: z.number(),
  server_time: z.string(),
});
export const SentFrame = z.strictObject({ type: z.literal('sent'), ref: Ref, ...SendReply.shape });
export const MessageFrame = z.strictObject({ type: z.literal('message'), message: Message });
export const ObservedFrame = z.strictObject({ type: z.literal('observed'), message: Message });
export const SubscribedFrame = z.strictObject({
  type: z.literal('subscribed'),
  threads: z.union([z.array(DecimalId), z.literal('*')]),
  observe: z.string().optional(),
});
export const EventFrame = z.strictObject({
  type: z.literal('event'),
  aspect: z.string(),
  event: z.object({ kind: z.string(), ts: z.string(), thread_id: z.string().optional(), data: z.unknown() }),
});
export const ControlFrame = z.strictObject({
  type: z.literal('control'),
  request_id: DecimalId,
  action: z.string(),
  params: z.unknown(),
});
export const ErrorFrame = z.strictObject({
  type: z.literal('error'),
  code: ErrorCode,
  message: z.string(),
  ref: z.string().optional(),
  details: z.unknown().optional(),
});

export const ServerFrame = z.discriminatedUnion('type', [
  WelcomeFrame,
  SentFrame,
  MessageFrame,
  ObservedFrame,
  SubscribedFrame,
  EventFrame,
  ControlFrame,
  ErrorFrame,
  PingFrame,
  PongFrame,
]);
export type ServerFrame = z.infer<typeof ServerFrame>;

/** WebSocket close codes (SPEC B.6). */
export const CloseCode = {
  badToken: 4401,
  stayDown: 4403,
  duplicateInstance: 4409,
  policy: 1008,
  tooBig: 1009,
  silent: 4408,
  databaseDown: 1013,
} as const;
