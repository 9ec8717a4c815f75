import { z } from 'zod';
import { HandDeclaration, ProviderConfig } from './aspect-config.js';
import {
  AspectName,
  Content,
  DecimalId,
  InstanceId,
  JsonInput,
  JsonObject,
  Traceparent,
  utf8Bytes,
} from './names.js';
import { Script } from './script.js';

/** Deadlines are capped at two hours (SPEC section 6): a larger `deadline_s` is accepted and capped. */
export const MAX_DEADLINE_S = 7200;
/** Artifacts total at most 192 KiB so the whole envelope fits in one message (B.77). */
export const MAX_ARTIFACT_BYTES = 192 * 1024;

/** Every way a dispatch can end (SPEC section 6). */
export const HandStatus = z.enum([
  'ok',
  'error',
  'timeout',
  'aborted',
  'busy',
  'unknown_hand',
  'forbidden',
  'invalid_input',
  'worker_lost',
]);
export type HandStatus = z.infer<typeof HandStatus>;

/** What a worker may report; the broker decides the others (B.14). */
export const WorkerStatus = z.enum(['ok', 'error', 'timeout', 'aborted']);
export type WorkerStatus = z.infer<typeof WorkerStatus>;

export const HandUsage = z.strictObject({
  input_tokens: z.number().int().min(0).max(1e12),
  output_tokens: z.number().int().min(0).max(1e12),
  cost_usd: z.number().min(0).max(1e9),
});
export type HandUsage = z.infer<typeof HandUsage>;

export const Artifact = z.strictObject({
  name: z.string().min(1).max(256),
  mime_type: z.string().min(1).max(256),
  text: z.string(),
});
export type Artifact = z.infer<typeof Artifact>;

const Artifacts = z
  .array(Artifact)
  .max(64)
  .refine(
    (list) => list.reduce((sum, a) => sum + utf8Bytes(a.text), 0) <= MAX_ARTIFACT_BYTES,
    'artifacts must total at most 192 KiB',
  );

/** The result of a dispatch, posted in `hand_result.input` and returned by the state route. */
export const ResultEnvelope = z.strictObject({
  status: HandStatus,
  summary: z.string(),
  artifacts: z.array(Artifact),
  usage: HandUsage,
  error: z.string().optional(),
  detail: JsonObject.optional(),
});
export type ResultEnvelope = z.infer<typeof ResultEnvelope>;

/** `POST /v1/hands/dispatch` (SPEC Appendix A, B.60, B.77). */
export const DispatchRequest = z.strictObject({
  target: AspectName,
  hand: AspectName,
  content: Content,
  input: JsonInput.optional(),
  thread_id: DecimalId.optional(),
  // Larger values are accepted and capped at MAX_DEADLINE_S by the broker (SPEC section 6).
  deadline_s: z.number().int().min(1).optional(),
  traceparent: Traceparent.optional(),
  idempotency_key: z.string().min(1).max(128, 'must be at most 128 characters').optional(),
});
export type DispatchRequest = z.infer<typeof DispatchRequest>;

export const DispatchQueuedReply = z.strictObject({
  dispatch_id: DecimalId,
  state: z.literal('queued'),
  thread_id: DecimalId,
  message_id: DecimalId,
});
export const DispatchRejectedReply = z.strictObject({
  dispatch_id: z.null(),
  state: z.literal('rejected'),
  thread_id: DecimalId.nullable(),
  result: ResultEnvelope,
});
export const DispatchReply = z.union([DispatchQueuedReply, DispatchRejectedReply]);
export type DispatchReply = z.infer<typeof DispatchReply>;

export const DispatchState = z.enum(['queued', 'running', 'done']);
export type DispatchState = z.infer<typeof DispatchState>;

export const DispatchPath = z.object({ id: DecimalId });

/** `GET /v1/hands/dispatches/:id`. */
export const DispatchInfo = z.strictObject({
  id: DecimalId,
  state: DispatchState,
  target: z.string(),
  hand: z.string(),
  dispatcher: z.string(),
  thread_id: DecimalId,
  attempt: z.number().int(),
  submitted_at: z.string(),
  started_at: z.string().optional(),
  finished_at: z.string().optional(),
  result: ResultEnvelope.optional(),
});
export type DispatchInfo = z.infer<typeof DispatchInfo>;

export const AbortReply = z.strictObject({ state: DispatchState, result: ResultEnvelope.optional() });
export type AbortReply = z.infer<typeof AbortReply>;

/** A worker process's own id (the pod name on Kubernetes, B.75); same rules as a credential fetch's. */
const WorkerId = InstanceId;
const Attempt = z.number().int().min(1).max(1000);

/** `POST /v1/workers/claim` (B.74). */
export const ClaimRequest = z.strictObject({
  worker_id: WorkerId,
  wait_s: z.number().min(0).max(25).default(0),
  max: z.number().int().min(1).max(32).optional(),
});
export type ClaimRequest = z.infer<typeof ClaimRequest>;

/** A claimed dispatch: everything a stateless worker needs to run it. */
export const ClaimedDispatch = z.strictObject({
  id: DecimalId,
  target: z.string(),
  hand: z.string(),
  dispatcher: z.string(),
  content: z.string(),
  input: z.unknown().optional(),
  thread_id: DecimalId,
  attempt: z.number().int(),
  deadline_at: z.string(),
  hand_definition: HandDeclaration,
  identity: z.strictObject({ soul: z.string(), agent: z.string(), primer: z.string() }),
  provider: ProviderConfig,
  script: Script.optional(),
  traceparent: z.string().optional(),
});
export type ClaimedDispatch = z.infer<typeof ClaimedDispatch>;

/** Heartbeat, release and the lease part of complete (B.75). */
export const LeaseRequest = z.strictObject({ worker_id: WorkerId, attempt: Attempt });
export type LeaseRequest = z.infer<typeof LeaseRequest>;

const CompletionFields = {
  status: WorkerStatus,
  // With artifacts at most 192 KiB, the whole envelope fits in one message (B.77).
  summary: z
    .string()
    .refine((text) => utf8Bytes(text) <= 64 * 1024, 'must be at most 64 KiB')
    .default(''),
  artifacts: Artifacts.default([]),
  usage: HandUsage.default({ input_tokens: 0, output_tokens: 0, cost_usd: 0 }),
  error: z.string().max(4096).optional(),
  detail: JsonObject.optional(),
};

/** `POST /v1/workers/dispatches/:id/complete`. */
export const CompleteRequest = z.strictObject({
  worker_id: WorkerId,
  attempt: Attempt,
  ...CompletionFields,
  traceparent: Traceparent.optional(),
});
export type CompleteRequest = z.infer<typeof CompleteRequest>;

/** One result of the batch complete (B.74); each may carry its own `traceparent` (B.87). */
export const CompletionItem = z.strictObject({
  dispatch_id: DecimalId,
  attempt: Attempt,
  ...CompletionFields,
  traceparent: Traceparent.optional(),
});
export type CompletionItem = z.infer<typeof CompletionItem>;

/** `POST /v1/workers/complete` (B.74). */
export const BatchCompleteRequest = z.strictObject({
  worker_id: WorkerId,
  results: z
    .array(CompletionItem)
    .min(1)
    .max(32)
    .refine((items) => new Set(items.map((i) => i.dispatch_id)).size === items.length, {
      message: 'each dispatch_id at most once',
    }),
});
export type BatchCompleteRequest = z.infer<typeof BatchCompleteRequest>;

/** `PUT /v1/hands/limits` (B.76); `h: null` returns H to its default. */
export const LimitsRequest = z
  .strictObject({
    n: z.number().int().min(1).max(10_000).optional(),
    h: z.number().int().min(1).max(10_000).nullable().optional(),
  })
  .refine((body) => body.n !== undefined || body.h !== undefined, 'name n, h or both');
export type LimitsRequest = z.infer<typeof LimitsRequest>;

export const LimitsReply = z.strictObject({
  n: z.number().int(),
  h: z.number().int(),
  h_default: z.boolean(),
  queued: z.number().int(),
  running: z.number().int(),
});
export type LimitsReply = z.infer<typeof LimitsReply>;

/** `GET /v1/hands/queue`: what is queued and running, oldest first. */
export const QueueQuery = z.strictObject({
  target: AspectName.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** A queued or running dispatch as `nexus queue ls` lists it. */
export const QueueItem = z.strictObject({
  id: DecimalId,
  state: z.enum(['queued', 'running']),
  target: z.string(),
  hand: z.string(),
  dispatcher: z.string(),
  attempt: z.number().int(),
  submitted_at: z.string(),
  started_at: z.string().optional(),
  worker_id: z.string().optional(),
});
export type QueueItem = z.infer<typeof QueueItem>;

const QueueCount = z.strictObject({
  aspect: z.string(),
  queued: z.number().int(),
  running: z.number().int(),
});

/** `GET /v1/hands/queue` (B.29). */
export const QueueReply = z.strictObject({
  n: z.number().int(),
  h: z.number().int(),
  running: z.number().int(),
  queued: z.number().int(),
  by_dispatcher: z.array(QueueCount),
  by_target: z.array(QueueCount),
  dispatches: z.array(QueueItem),
});
export type QueueReply = z.infer<typeof QueueReply>;

/** Fields a worker's tools send when they act for a held dispatch (B.78). */
export const HeldLease = z.strictObject({ dispatch_id: DecimalId, worker_id: WorkerId, attempt: Attempt });
export type HeldLease = z.infer<typeof HeldLease>;
