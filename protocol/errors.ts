import { z } from 'zod';

/** Every error code a client can see (SPEC section 3, B.6). */
export const ErrorCode = z.enum([
  'invalid_request',
  'invalid_json',
  'unauthenticated',
  'forbidden',
  'identity_mismatch',
  'admin_required',
  'not_found',
  'name_in_use',
  'conflict',
  'payload_too_large',
  'rate_limited',
  'unavailable',
  'no_recipient',
  'stay_down',
  'not_connected',
  'resume_ahead',
  'internal',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

/** The body of every error response: `{"error": {code, message, details?}}`. */
export const ErrorBody = z.strictObject({
  error: z.strictObject({
    code: ErrorCode,
    message: z.string(),
    details: z.unknown().optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

const statusOf: Record<ErrorCode, number> = {
  invalid_request: 400,
  invalid_json: 400,
  no_recipient: 400,
  resume_ahead: 400,
  unauthenticated: 401,
  forbidden: 403,
  identity_mismatch: 403,
  admin_required: 403,
  stay_down: 403,
  not_found: 404,
  name_in_use: 409,
  conflict: 409,
  not_connected: 409,
  payload_too_large: 413,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
};

/**
 * A wire error: the only kind of failure a client ever sees. It carries a code from the spec,
 * the HTTP status that code maps to, a message safe to show, and structured details.
 */
export class WireError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = 'WireError';
    this.status = statusOf[code];
  }

  toBody(): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}
