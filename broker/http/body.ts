import type { Request } from 'express';
import { WireError } from '../../protocol/index.js';
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
