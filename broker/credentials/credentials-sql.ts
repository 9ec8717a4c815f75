import type { Queryable } from '../db/pool.js';
import type { EncryptedValue } from './encryption.js';

/** A credential's metadata and grants as the database returns them (never the value). */
export interface CredentialRow {
  name: string;
  kind: string;
  description: string | null;
  created_at: Date;
  updated_at: Date;
  /** Ordered by aspect: who holds a grant and the name of the token that made it (B.95). */
  grants: { aspect: string; granted_by: string }[];
}

/** What a fetch needs: the encrypted value, and whether the asking aspect holds a grant. */
export interface CredentialForFetch extends EncryptedValue {
  name: string;
  kind: string;
  granted: boolean;
  /** The acting aspect is stayed down (B.15). */
  stay_down: boolean;
}

const METADATA = `name, kind, description, created_at, updated_at,
  coalesce((SELECT json_agg(json_build_object('aspect', g.aspect, 'granted_by', g.granted_by) ORDER BY g.aspect)
              FROM credential_grants g WHERE g.credential = credentials.name), '[]'::json) AS grants`;

/**
 * Inserts or replaces a credential. `created` tells the two apart (`xmax = 0` only on a freshly
 * inserted row version); grants survive a replacement.
 */
export async function upsertCredential(
  db: Queryable,
  credential: { name: string; kind: string; description: string | null } & EncryptedValue,
): Promise<CredentialRow & { created: boolean }> {
  const result = await db.query<CredentialRow & { created: boolean }>(
    `INSERT INTO credentials (name, kind, description, ciphertext, nonce)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (name) DO UPDATE
        SET kind = EXCLUDED.kind, description = EXCLUDED.description,
            ciphertext = EXCLUDED.ciphertext, nonce = EXCLUDED.nonce, updated_at = now()
     RETURNING ${METADATA}, (xmax = 0) AS created`,
    [credential.name, credential.kind, credential.description, credential.ciphertext, credential.nonce],
  );
  return result.rows[0] as CredentialRow & { created: boolean };
}

/** Every credential's metadata and grants, by name. */
export async function listCredentials(db: Queryable): Promise<CredentialRow[]> {
  const result = await db.query<CredentialRow>(`SELECT ${METADATA} FROM credentials ORDER BY name`);
  return result.rows;
}

/** Deletes a credential and its grants; false when there was none. */
export async function deleteCredential(db: Queryable, name: string): Promise<boolean> {
  const result = await db.query('DELETE FROM credentials WHERE name = $1', [name]);
  return (result.rowCount ?? 0) > 0;
}

/**
 * Grants `aspect` the use of a credential; a repeat keeps the first grant and its `granted_by`.
 * False when the credential does not exist.
 */
export async function insertGrant(
  db: Queryable,
  grant: { credential: string; aspect: string; grantedBy: string },
): Promise<boolean> {
  const result = await db.query<{ found: boolean }>(
    `WITH target AS (SELECT name FROM credentials WHERE name = $1),
          added AS (
            INSERT INTO credential_grants (credential, aspect, granted_by)
            SELECT name, $2, $3 FROM target
            ON CONFLICT (credential, aspect) DO NOTHING)
     SELECT EXISTS (SELECT 1 FROM target) AS found`,
    [grant.credential, grant.aspect, grant.grantedBy],
  );
  return result.rows[0]?.found ?? false;
}

/**
 * Removes one grant; with `grantedBy`, only a grant that token made (B.95). False when there was
 * none to remove.
 */
export async function deleteGrant(
  db: Queryable,
  grant: { credential: string; aspect: string; grantedBy?: string },
): Promise<boolean> {
  const result = await db.query(
    `DELETE FROM credential_grants
      WHERE credential = $1 AND aspect = $2 AND ($3::text IS NULL OR granted_by = $3)`,
    [grant.credential, grant.aspect, grant.grantedBy ?? null],
  );
  return (result.rowCount ?? 0) > 0;
}

/** The encrypted value of `name` and whether `aspect` may use it; null when no such credential. */
export async function findCredentialForFetch(
  db: Queryable,
  name: string,
  aspect: string,
): Promise<CredentialForFetch | null> {
  const result = await db.query<CredentialForFetch>(
    `SELECT c.name, c.kind, c.ciphertext, c.nonce, (g.aspect IS NOT NULL) AS granted,
            coalesce((SELECT a.stay_down FROM aspects a WHERE a.name = $2), false) AS stay_down
       FROM credentials c
       LEFT JOIN credential_grants g ON g.credential = c.name AND g.aspect = $2
      WHERE c.name = $1`,
    [name, aspect],
  );
  return result.rows[0] ?? null;
}
