import { createHash, randomBytes } from 'node:crypto';
import type { TokenKind } from '../../protocol/index.js';

const PREFIX: Record<TokenKind, string> = { aspect: 'nxa_', worker: 'nxw_', admin: 'nxo_' };
const TOKEN_SHAPE = /^nx[awo]_[A-Za-z0-9_-]{43}$/;

/** A new token: kind prefix + 256 random bits, base64url (ADR 0003). */
export function newTokenValue(kind: TokenKind): string {
  return PREFIX[kind] + randomBytes(32).toString('base64url');
}

/** Whether a string has the shape of one of our tokens (kind prefix, 43 base64url characters). */
export function looksLikeToken(value: string): boolean {
  return TOKEN_SHAPE.test(value);
}

/** The kind a token's prefix claims. */
export function kindOfTokenValue(value: string): TokenKind | null {
  if (value.startsWith('nxa_')) return 'aspect';
  if (value.startsWith('nxw_')) return 'worker';
  if (value.startsWith('nxo_')) return 'admin';
  return null;
}

/** SHA-256 of a token: the only form the database ever holds. */
export function hashToken(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
