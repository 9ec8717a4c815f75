/** Where client commands find the broker and their token (SPEC section 1, B.34). */
import { tokenSourceFromEnv } from '../platform/index.js';
import { brokerUrlFromEnv } from './output.js';

export interface Connection {
  url: string;
  token: string;
}

/**
 * NEXUS_URL and the token (NEXUS_TOKEN_FILE, else NEXUS_TOKEN, else the `nexus dev` token file
 * `./.nexus/admin-token`), with the `nexus dev` URL by default (B.34). A missing token throws a
 * `ConfigError` naming what was looked for and where.
 */
export function connectionFromEnv(env = process.env): Connection {
  const url = brokerUrlFromEnv(env);
  return { url, token: tokenSourceFromEnv(env, { devDefault: true }).read() };
}
