/**
 * API errors as the real server sends them: a `Status` object whose `reason` and `code` clients
 * switch on (client-node's informer re-lists on 410; leader election retries on 409).
 */

export type StatusReason =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Expired'
  | 'TooManyRequests'
  | 'InternalError'
  | 'Invalid'
  | 'BadRequest'
  | 'MethodNotAllowed'
  | 'UnsupportedMediaType'
  | 'Gone'
  | 'Unknown';

const reasonByCode: Record<number, StatusReason> = {
  400: 'BadRequest',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
};

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  retryAfterSeconds?: number;
  causes?: { reason?: string; message: string; field?: string }[];
}

export class KubeError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly reason: StatusReason = reasonByCode[code] ?? 'Unknown',
    readonly details?: StatusDetails,
  ) {
    super(message);
  }

  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

type Target = { plural: string; group: string; name: string };

const qualified = (t: Target) => (t.group ? `${t.plural}.${t.group}` : t.plural);

export const notFound = (t: Target) =>
  new KubeError(404, `${qualified(t)} "${t.name}" not found`, 'NotFound', {
    name: t.name,
    group: t.group,
    kind: t.plural,
  });

export const alreadyExists = (t: Target) =>
  new KubeError(409, `${qualified(t)} "${t.name}" already exists`, 'AlreadyExists', {
    name: t.name,
    group: t.group,
    kind: t.plural,
  });

export const conflict = (t: Target) =>
  new KubeError(
    409,
    `Operation cannot be fulfilled on ${qualified(t)} "${t.name}": the object has been modified; please apply your changes to the latest version and try again`,
    'Conflict',
    { name: t.name, group: t.group, kind: t.plural },
  );

export const invalid = (kind: string, name: string, message: string) =>
  new KubeError(422, `${kind} "${name}" is invalid: ${message}`, 'Invalid', {
    name,
    kind,
    causes: [{ reason: 'FieldValueInvalid', message }],
  });

export const badRequest = (message: string) => new KubeError(400, message, 'BadRequest');

export const expired = (requested: string, oldest: number) =>
  new KubeError(410, `too old resource version: ${requested} (${oldest})`, 'Expired');
