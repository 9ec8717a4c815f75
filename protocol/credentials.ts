import { z } from 'zod';
import { AspectName, DecimalId, InstanceId, utf8Bytes } from './names.js';

/**
 * Credential names are DNS-1123 subdomains of at most 253 characters: lowercase labels joined by
 * dots (`anthropic`, `github.deploy-key`), the rule Kubernetes applies to Secret names, so a
 * credential can be mirrored from or into a Secret under the same name (ADR 0004).
 */
export const CredentialName = z
  .string()
  .min(1, 'must not be empty')
  .max(253, 'must be at most 253 characters')
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    'must be a DNS-1123 subdomain (lowercase letters, digits, "-", labels joined by ".")',
  );
export type CredentialName = z.infer<typeof CredentialName>;

/** The path of `/v1/credentials/:name` and its sub-routes. */
export const CredentialPath = z.object({ name: CredentialName });

/** The path of `DELETE /v1/credentials/:name/grants/:aspect`. */
export const CredentialGrantPath = z.object({ name: CredentialName, aspect: AspectName });

/** A token's name as a grant records it (B.95): an admin token's name, or an aspect token's name. */
export const GrantedBy = z.string().min(1, 'must not be empty').max(253, 'must be at most 253 characters');

/**
 * The query of `DELETE /v1/credentials/:name/grants/:aspect` (B.95): with `granted_by`, the grant
 * goes only if that token made it (the operator removes only its own); without, any grant goes.
 */
export const RevokeGrantQuery = z.strictObject({ granted_by: GrantedBy.optional() });
export type RevokeGrantQuery = z.infer<typeof RevokeGrantQuery>;

/** What a credential is for, as a short label (`api_key`, `bearer`); the broker does not interpret it. */
export const CredentialKind = z
  .string()
  .max(64, 'must be at most 64 characters')
  .regex(/^[a-z0-9]([-_a-z0-9]*[a-z0-9])?$/, 'must be lowercase letters, digits, "-" or "_"');

/** The kind a credential gets when `PUT` names none. */
export const DEFAULT_CREDENTIAL_KIND = 'secret';

/** The largest credential value, in UTF-8 bytes: room for a PEM key or a service-account JSON. */
export const MAX_CREDENTIAL_BYTES = 64 * 1024;

/** `PUT /v1/credentials/:name` (SPEC B.28): the whole credential; a repeat replaces it. */
export const StoreCredentialRequest = z.strictObject({
  value: z
    .string()
    .min(1, 'must not be empty')
    .refine((s) => utf8Bytes(s) <= MAX_CREDENTIAL_BYTES, 'must be at most 64 KiB of UTF-8'),
  kind: CredentialKind.default(DEFAULT_CREDENTIAL_KIND),
  description: z.string().max(1024, 'must be at most 1024 characters').optional(),
});
export type StoreCredentialRequest = z.infer<typeof StoreCredentialRequest>;

/** `POST /v1/credentials/:name/grants` (SPEC B.28). */
export const GrantCredentialRequest = z.strictObject({ aspect: AspectName });
export type GrantCredentialRequest = z.infer<typeof GrantCredentialRequest>;

/**
 * `POST /v1/credentials/:name/fetch` (SPEC B.28, B.75). An aspect sends `{}`; a worker sends the
 * lease it holds, all three fields together.
 */
export const FetchCredentialRequest = z
  .strictObject({
    dispatch_id: DecimalId.optional(),
    worker_id: InstanceId.optional(),
    attempt: z.number().int().min(1).max(1000).optional(),
  })
  .superRefine((body, ctx) => {
    const given = [body.dispatch_id, body.worker_id, body.attempt].some((v) => v !== undefined);
    if (!given) return;
    for (const field of ['dispatch_id', 'worker_id', 'attempt'] as const) {
      if (body[field] === undefined)
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: 'is required with dispatch_id, worker_id and attempt (a worker lease)',
        });
    }
  });
export type FetchCredentialRequest = z.infer<typeof FetchCredentialRequest>;

/** One grant of a credential and the name of the token that made it (B.95). */
export const CredentialGrant = z.object({ aspect: AspectName, granted_by: GrantedBy });
export type CredentialGrant = z.infer<typeof CredentialGrant>;

/** A credential as an admin sees it: metadata and grants (by aspect name), never the value. */
export const CredentialInfo = z.object({
  name: CredentialName,
  kind: z.string(),
  description: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
  grants: z.array(CredentialGrant),
});
export type CredentialInfo = z.infer<typeof CredentialInfo>;

/** `GET /v1/credentials`. */
export const CredentialListReply = z.object({ credentials: z.array(CredentialInfo) });
export type CredentialListReply = z.infer<typeof CredentialListReply>;

/** `POST /v1/credentials/:name/fetch`: the one reply that carries a value. */
export const FetchCredentialReply = z.object({ name: CredentialName, kind: z.string(), value: z.string() });
export type FetchCredentialReply = z.infer<typeof FetchCredentialReply>;
