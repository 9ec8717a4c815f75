import type { NextFunction, Request, Response } from 'express';
import { WireError } from '../../protocol/index.js';
import type { Logger } from '../../platform/index.js';
import { classifyDatabaseError, databaseUnavailable } from '../db/retry.js';

/** Maps anything thrown by a route to the wire: wire errors as they are, the rest as 503 or 500. */
export function toWireError(err: unknown, logger: Logger): WireError {
  if (err instanceof WireError) return err;
  const e = err as { type?: string; status?: number };
  if (e?.type === 'entity.too.large') return new WireError('payload_too_large', 'body is larger than 1 MiB');
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported')
    return new WireError('invalid_request', 'body: this content-encoding is not supported');
  // The router's own message for a bad %-escape quotes the path (B.57): say only what is wrong.
  if (err instanceof URIError) return new WireError('invalid_request', 'path: not valid percent-encoding');
  // Whatever else the body reader refuses: an aborted request, a corrupt compressed stream, a wrong length.
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500)
    return new WireError('invalid_request', 'body: could not be read');
  if (classifyDatabaseError(err) === 'unavailable') return databaseUnavailable();
  logger.error({ err }, 'request failed');
  return new WireError('internal', 'internal error');
}

/** The one error edge of the HTTP app. */
export function errorHandler(logger: Logger) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    const wire = toWireError(err, logger);
    if (wire.retryAfterS !== undefined) res.setHeader('Retry-After', String(wire.retryAfterS));
    res.status(wire.status).json(wire.toBody());
  };
}
