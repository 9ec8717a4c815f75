import { z } from 'zod';
import { AspectName, BROKER_SENDER, DecimalId, RESERVED_NAME_MESSAGE } from './names.js';

export const TokenKind = z.enum(['aspect', 'worker', 'admin']);
export type TokenKind = z.infer<typeof TokenKind>;

/** A token's name: who holds it (an admin's DNS-1123 label, a worker pool, `operator:NS/ASPECT`). */
export const TokenName = z.string().min(1, 'must not be empty').max(253, 'must be at most 253 characters');

/** `POST /v1/admin/tokens` (SPEC Appendix A, B.4, B.25). */
export const MintTokenRequest = z
  .strictObject({
    kind: TokenKind,
    aspect: AspectName.optional(),
    name: TokenName.optional(),
    admin: z.boolean().optional(),
  })
  .superRefine((body, ctx) => {
    if (body.kind === 'aspect' && !body.aspect)
      ctx.addIssue({ code: 'custom', path: ['aspect'], message: 'is required for kind "aspect"' });
    if (body.kind !== 'aspect' && body.aspect)
      ctx.addIssue({ code: 'custom', path: ['aspect'], message: 'is allowed for kind "aspect" only' });
    if (body.aspect === BROKER_SENDER)
      ctx.addIssue({ code: 'custom', path: ['aspect'], message: RESERVED_NAME_MESSAGE });
    if (body.kind !== 'aspect' && body.admin !== undefined)
      ctx.addIssue({ code: 'custom', path: ['admin'], message: 'is allowed for kind "aspect" only' });
    if (body.kind === 'admin') {
      if (!body.name)
        ctx.addIssue({ code: 'custom', path: ['name'], message: 'is required for kind "admin"' });
      else if (!AspectName.safeParse(body.name).success)
        ctx.addIssue({
          code: 'custom',
          path: ['name'],
          message: 'must be a DNS-1123 label for kind "admin"',
        });
      else if (body.name === BROKER_SENDER)
        ctx.addIssue({ code: 'custom', path: ['name'], message: RESERVED_NAME_MESSAGE });
    }
  });
export type MintTokenRequest = z.infer<typeof MintTokenRequest>;

export const MintTokenReply = z.object({
  id: DecimalId,
  token: z.string(),
  kind: TokenKind,
  aspect: z.string().optional(),
  name: z.string().optional(),
  admin: z.boolean(),
});
export type MintTokenReply = z.infer<typeof MintTokenReply>;

/** `GET /v1/admin/tokens`: every filter given must match; `name` exactly (how `token revoke --name` finds its tokens). */
export const TokenListQuery = z.strictObject({
  aspect: AspectName.optional(),
  kind: TokenKind.optional(),
  name: TokenName.optional(),
});
export type TokenListQuery = z.infer<typeof TokenListQuery>;

/** The path of `DELETE /v1/admin/tokens/:id`. */
export const TokenPath = z.object({ id: DecimalId });

export const TokenInfo = z.object({
  id: DecimalId,
  kind: TokenKind,
  aspect: z.string().optional(),
  name: z.string().optional(),
  admin: z.boolean(),
  created_at: z.string(),
  revoked_at: z.string().optional(),
  last_used_at: z.string().optional(),
});
export type TokenInfo = z.infer<typeof TokenInfo>;

export const AuditQuery = z.strictObject({
  after: DecimalId.optional(),
  before: DecimalId.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  actor: z.string().max(256).optional(),
  action: z.string().max(128).optional(),
  order: z.enum(['asc', 'desc']).default('asc'),
});
export type AuditQuery = z.infer<typeof AuditQuery>;

/** `GET /v1/events` (B.60): stored events, admin only. */
export const EventsQuery = z.strictObject({
  aspect: z.string().max(64).optional(),
  kind: z.string().max(128).optional(),
  after: DecimalId.optional(),
  before: DecimalId.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  order: z.enum(['asc', 'desc']).default('asc'),
});
export type EventsQuery = z.infer<typeof EventsQuery>;

export const AuditEntry = z.object({
  id: DecimalId,
  at: z.string(),
  actor: z.string(),
  token_id: DecimalId.nullable(),
  action: z.string(),
  target: z.string().nullable(),
  outcome: z.enum(['allowed', 'denied']),
  details: z.unknown(),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

/** An empty JSON body, for POST/DELETE routes that take none. */
export const EmptyBody = z.strictObject({});

export const ShutdownReply = z.object({ name: z.string(), stay_down: z.boolean(), aborted: z.number() });
