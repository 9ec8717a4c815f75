import type { Request } from 'express';
import { EmptyBody, WireError, parseOrThrow } from '../../protocol/index.js';
import { jsonErrorText } from './json-position.js';

/**
 * The request body as JSON. Bodies arrive raw (so the size limit and the JSON error are ours);
 * an empty body reads as `{}` so routes that take no fields accept a bare POST.
 */
export function jsonBody(req: Request): unknown {
  const raw: unknown = req.body;
  if (!Buffer.isBuffer(raw) || raw.length === 0) return {};
  const text = raw.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new WireError('invalid_json', jsonErrorText(text, 'body'));
  }
}

/**
 * For a route that takes no body: none, or `{}`. Anything else is `400` naming the first field,
 * as for any strict body (B.8), before the route changes anything.
 */
export function noBody(req: Request): void {
  parseOrThrow(EmptyBody, jsonBody(req));
}

/** For a route that takes no query: any key is `400` naming it (B.8). */
export function noQuery(req: Request): void {
  parseOrThrow(EmptyBody, req.query);
}
