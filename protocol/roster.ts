import { z } from 'zod';
import { AspectConfigFields, addAspectConfigIssues } from './aspect-config.js';
import { AspectName, InstanceId, IsoTime, JsonValue, utf8Bytes } from './names.js';

const IdentityDocument = z
  .string()
  .refine((s) => utf8Bytes(s) <= 64 * 1024, 'must be at most 64 KiB')
  .default('');

/** SOUL / AGENT / PRIMER texts carried on registration (SPEC B.10). */
export const IdentityDocuments = z.strictObject({
  soul: IdentityDocument,
  agent: IdentityDocument,
  primer: IdentityDocument,
});

/** `POST /v1/aspects/register`: aspect.json plus the instance's facts (SPEC section 3, B.10, B.43). */
export const RegisterRequest = z
  .strictObject({
    ...AspectConfigFields.shape,
    instance_id: InstanceId,
    pid: z.number().int().min(0),
    started_at: IsoTime,
    runtime_version: z.string().min(1).max(64),
    identity: IdentityDocuments.optional(),
    script: JsonValue.refine(
      (v) => utf8Bytes(JSON.stringify(v) ?? '') <= 256 * 1024,
      'must be at most 256 KiB',
    ).optional(),
  })
  .superRefine(addAspectConfigIssues);
export type RegisterRequest = z.infer<typeof RegisterRequest>;

export const RegisterReply = z.strictObject({
  status: z.literal('registered'),
  heartbeat_interval_s: z.number(),
  stale_after_s: z.number(),
  /** The database's identity (B.45): state a runtime kept against another one is discarded. */
  nexus_instance: z.string(),
});
export type RegisterReply = z.infer<typeof RegisterReply>;

/** Per-session statistics a runtime reports with each heartbeat (SPEC B.29). */
export const SessionStats = z.strictObject({
  sid: z.string().min(1).max(128),
  tokens: z.number().int().min(0),
  window: z.number().int().min(0),
});

export const HeartbeatRequest = z.strictObject({
  instance_id: InstanceId,
  stats: z
    .strictObject({
      sessions: z.array(SessionStats).max(10_000).default([]),
      compactions: z.number().int().min(0).default(0),
      last_compaction_at: IsoTime.optional(),
      inbox_depth: z.number().int().min(0).default(0),
    })
    .default({ sessions: [], compactions: 0, inbox_depth: 0 }),
});
export type HeartbeatRequest = z.infer<typeof HeartbeatRequest>;

export const DeregisterRequest = z.strictObject({ instance_id: InstanceId });

/** The path of `GET /v1/aspects/:name` and of the admin routes on one aspect. */
export const AspectPath = z.object({ name: AspectName });
export type DeregisterRequest = z.infer<typeof DeregisterRequest>;

export const AspectStatus = z.enum(['live', 'stale', 'down']);
export type AspectStatus = z.infer<typeof AspectStatus>;

/** One roster row (SPEC Appendix A, B.29). */
export const RosterEntry = z.object({
  name: z.string(),
  role: z.enum(['aspect', 'frame']),
  status: AspectStatus,
  stay_down: z.boolean(),
  context_mode: z.string().nullable(),
  provider: z.unknown(),
  capabilities: z.array(z.string()),
  hands: z.array(
    z.object({ name: z.string(), description: z.string(), input_schema: z.unknown().optional() }),
  ),
  registered_at: z.string().nullable(),
  last_heartbeat: z.string().nullable(),
  stats: z.unknown(),
  metadata: z.unknown(),
});
export type RosterEntry = z.infer<typeof RosterEntry>;

export const RosterReply = z.object({ aspects: z.array(RosterEntry) });
export type RosterReply = z.infer<typeof RosterReply>;
