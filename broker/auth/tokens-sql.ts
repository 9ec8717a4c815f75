import type { Queryable } from '../db/pool.js';
import type { TokenKind } from '../../protocol/index.js';

/** A token row as the broker needs it to authorise; never holds the token value. */
export interface TokenRow {
  id: string;
  kind: TokenKind;
  aspect: string | null;
  name: string | null;
  admin: boolean;
  created_at: Date;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

const COLUMNS = 'id::text AS id, kind, aspect, name, admin, created_at, revoked_at, last_used_at';

export async function findTokenByHash(db: Queryable, hash: Buffer): Promise<TokenRow | null> {
  const result = await db.query<TokenRow>(`SELECT ${COLUMNS} FROM tokens WHERE hash = $1`, [hash]);
  return result.rows[0] ?? null;
}

export async function insertToken(
  db: Queryable,
  token: { hash: Buffer; kind: TokenKind; aspect?: string; name?: string; admin: boolean },
): Promise<TokenRow> {
  const result = await db.query<TokenRow>(
    `INSERT INTO tokens (hash, kind, aspect, name, admin) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
    [token.hash, token.kind, token.aspect ?? null, token.name ?? null, token.admin],
  );
  return result.rows[0] as TokenRow;
}

/** Revokes a token; returns the row, or null if there is no such token. Revoking twice is harmless. */
export async function revokeToken(db: Queryable, id: string): Promise<TokenRow | null> {
  const result = await db.query<TokenRow>(
    `UPDATE tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING ${COLUMNS}`,
    [id],
  );
  return result.rows[0] ?? null;
}

export async function listTokens(
  db: Queryable,
  filter: { aspect?: string; kind?: TokenKind; name?: string },
): Promise<TokenRow[]> {
  const result = await db.query<TokenRow>(
    `SELECT ${COLUMNS} FROM tokens
      WHERE ($1::text IS NULL OR aspect = $1) AND ($2::text IS NULL OR kind = $2)
        AND ($3::text IS NULL OR name = $3)
      ORDER BY id`,
    [filter.aspect ?? null, filter.kind ?? null, filter.name ?? null],
  );
  return result.rows;
}

/** Ids of tokens revoked within the last `windowS` seconds: what the revocation watcher re-reads. */
export async function recentlyRevokedTokenIds(db: Queryable, windowS: number): Promise<string[]> {
  const result = await db.query<{ id: string }>(
    `SELECT id::text AS id FROM tokens WHERE revoked_at > now() - make_interval(secs => $1)`,
    [windowS],
  );
  return result.rows.map((r) => r.id);
}

/** Records use of tokens, batched by the authenticator so a hot path never writes per request. */
export async function touchTokens(db: Queryable, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.query(`UPDATE tokens SET last_used_at = now() WHERE id = ANY($1::bigint[])`, [ids]);
}

/** The live token named `bootstrap`, if any. */
export async function findLiveBootstrap(db: Queryable): Promise<TokenRow | null> {
  const result = await db.query<TokenRow>(
    `SELECT ${COLUMNS} FROM tokens WHERE kind = 'admin' AND name = 'bootstrap' AND revoked_at IS NULL`,
  );
  return result.rows[0] ?? null;
}
