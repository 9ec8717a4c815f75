import {
  WireError,
  type CredentialInfo,
  type FetchCredentialReply,
  type FetchCredentialRequest,
  type StoreCredentialRequest,
} from '../../protocol/index.js';
import type { Logger } from '../../platform/index.js';
import type { Queryable } from '../db/pool.js';
import { withDatabaseRetry } from '../db/retry.js';
import type { Principal } from '../auth/principal.js';
import type { AuditLog } from '../audit/audit-log.js';
import { insertAudit } from '../audit/audit-sql.js';
import {
  decryptCredential,
  encryptCredential,
  UndecryptableCredential,
  type SecretKey,
} from './encryption.js';
import {
  deleteCredential,
  deleteGrant,
  findCredentialForFetch,
  insertGrant,
  listCredentials,
  upsertCredential,
  type CredentialRow,
} from './credentials-sql.js';
import { noDispatchesHeld, type HeldDispatchTarget } from './dispatch-lease.js';

/** The answer of every credential route on a broker started without a key (B.28). */
export function noSecretKey(): WireError {
  // The reason in details lets a client (the operator) tell a store that is off from a database
  // that is down: both are 503 unavailable, only the second passes.
  return new WireError(
    'unavailable',
    'the broker has no NEXUS_SECRET_KEY, so credentials can be neither stored nor fetched',
    { reason: 'no_secret_key' },
  );
}

function toInfo(row: CredentialRow): CredentialInfo {
  return {
    name: row.name,
    kind: row.kind,
    description: row.description,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    grants: row.grants,
  };
}

export interface CredentialServiceDeps {
  db: Queryable;
  audit: AuditLog;
  logger: Logger;
  /** Undefined when the broker runs without NEXUS_SECRET_KEY: every call answers 503. */
  key: SecretKey | undefined;
  /** Which aspect a worker's lease lets it act as; the Hands work supplies it (B.75). */
  heldDispatchTarget?: HeldDispatchTarget;
}

/**
 * The credential store: admins store, list, delete, grant and revoke; aspects (and workers for a
 * dispatch they hold) fetch values they were granted. Values exist in clear only between the
 * request body and the cipher, and between the decipher and the fetch reply: never in a log
 * line, an error, a metric or an audit row. Unknown names and missing grants are refused alike
 * (403), so names cannot be probed (B.53).
 */
export class CredentialService {
  private readonly heldDispatchTarget: HeldDispatchTarget;

  constructor(private readonly deps: CredentialServiceDeps) {
    this.heldDispatchTarget = deps.heldDispatchTarget ?? noDispatchesHeld;
  }

  /** Whether the broker has a key; without one every credential route answers 503. */
  get available(): boolean {
    return this.deps.key !== undefined;
  }

  private key(): SecretKey {
    if (!this.deps.key) throw noSecretKey();
    return this.deps.key;
  }

  /** Stores (encrypted) or replaces a credential; `created` is false for a replacement. */
  async store(
    caller: Principal,
    name: string,
    body: StoreCredentialRequest,
  ): Promise<{ created: boolean; info: CredentialInfo }> {
    const encrypted = encryptCredential(this.key(), name, body.value);
    const row = await withDatabaseRetry(() =>
      upsertCredential(this.deps.db, {
        name,
        kind: body.kind,
        description: body.description ?? null,
        ...encrypted,
      }),
    );
    await this.deps.audit.allowed(caller, 'credential.store', name, {
      kind: row.kind,
      created: row.created,
    });
    return { created: row.created, info: toInfo(row) };
  }

  /** Metadata and grants of every credential. */
  async list(): Promise<CredentialInfo[]> {
    this.key();
    return (await withDatabaseRetry(() => listCredentials(this.deps.db))).map(toInfo);
  }

  async remove(caller: Principal, name: string): Promise<void> {
    this.key();
    if (!(await withDatabaseRetry(() => deleteCredential(this.deps.db, name))))
      throw new WireError('not_found', `credential ${name} does not exist`);
    await this.deps.audit.allowed(caller, 'credential.delete', name);
  }

  async grant(caller: Principal, name: string, aspect: string): Promise<void> {
    this.key();
    let found: boolean;
    try {
      found = await withDatabaseRetry(() =>
        insertGrant(this.deps.db, { credential: name, aspect, grantedBy: caller.tokenName }),
      );
    } catch (err) {
      // The credential was deleted between the statement's read and its insert.
      if ((err as { code?: string }).code !== '23503') throw err;
      found = false;
    }
    if (!found) throw new WireError('not_found', `credential ${name} does not exist`);
    await this.deps.audit.allowed(caller, 'credential.grant', name, { aspect });
  }

  /** Removes a grant; with `grantedBy`, only one that token made (B.95), else 404. */
  async revokeGrant(caller: Principal, name: string, aspect: string, grantedBy?: string): Promise<void> {
    this.key();
    const grant = { credential: name, aspect, ...(grantedBy === undefined ? {} : { grantedBy }) };
    if (!(await withDatabaseRetry(() => deleteGrant(this.deps.db, grant))))
      throw new WireError(
        'not_found',
        grantedBy === undefined
          ? `credential ${name} is not granted to ${aspect}`
          : `credential ${name} is not granted to ${aspect} by ${grantedBy}`,
      );
    await this.deps.audit.allowed(
      caller,
      'credential.revoke_grant',
      name,
      grantedBy === undefined ? { aspect } : { aspect, granted_by: grantedBy },
    );
  }

  /**
   * The value of `name` for the caller: an aspect with a grant, or a worker holding a dispatch
   * of a granted aspect. Every outcome is audited as `credential.fetch`; a success is recorded
   * before the value leaves, so no fetch goes unaudited.
   */
  async fetch(caller: Principal, name: string, body: FetchCredentialRequest): Promise<FetchCredentialReply> {
    const key = this.key();
    const aspect = await this.actingAspect(caller, name, body);
    const lease = body.dispatch_id === undefined ? {} : { dispatch_id: body.dispatch_id };
    const row = await withDatabaseRetry(() => findCredentialForFetch(this.deps.db, name, aspect));
    if (!row?.granted) {
      await this.denyFetch(caller, name, { aspect, ...lease, reason: row ? 'not granted' : 'unknown name' });
      // One answer for both reasons, so names cannot be probed (B.53).
      throw new WireError('forbidden', `${aspect} holds no grant for a credential named ${name}`);
    }
    // A stayed-down aspect acts no more; a worker finishing a dispatch already running for it may
    // (B.15: running dispatches continue).
    if (row.stay_down && caller.kind === 'aspect') {
      await this.denyFetch(caller, name, { aspect, reason: 'stay_down' });
      throw new WireError('stay_down', `${aspect} is shut down (stay-down)`);
    }
    let value: string;
    try {
      value = decryptCredential(key, name, row);
    } catch (err) {
      if (!(err instanceof UndecryptableCredential)) throw err;
      this.deps.logger.error({ credential: name }, err.message);
      await this.denyFetch(caller, name, { aspect, ...lease, reason: 'undecryptable' });
      throw new WireError('internal', err.message);
    }
    await withDatabaseRetry(() =>
      insertAudit(this.deps.db, {
        actor: caller.actor,
        tokenId: caller.tokenId,
        action: 'credential.fetch',
        target: name,
        outcome: 'allowed',
        details: { aspect, ...lease },
      }),
    );
    return { name: row.name, kind: row.kind, value };
  }

  /** The aspect whose grants decide a fetch, or a 403 (audited) when the caller acts for none. */
  private async actingAspect(caller: Principal, name: string, body: FetchCredentialRequest): Promise<string> {
    if (caller.kind === 'aspect') {
      if (body.dispatch_id !== undefined)
        throw new WireError('invalid_request', 'dispatch_id: is sent by worker tokens only', {
          issues: [{ path: 'dispatch_id', message: 'is sent by worker tokens only' }],
        });
      return caller.name;
    }
    if (caller.kind === 'admin') {
      await this.denyFetch(caller, name, { reason: 'admin token' });
      throw new WireError(
        'forbidden',
        'credential values are fetched by aspects and workers only; an admin token can store them, not read them',
      );
    }
    if (body.dispatch_id === undefined || body.worker_id === undefined || body.attempt === undefined) {
      await this.denyFetch(caller, name, { reason: 'no dispatch' });
      throw new WireError(
        'forbidden',
        'a worker fetches a credential only for a dispatch it holds: send dispatch_id, worker_id and attempt',
      );
    }
    const lease = {
      tokenId: caller.tokenId,
      workerId: body.worker_id,
      dispatchId: body.dispatch_id,
      attempt: body.attempt,
    };
    const target = await this.heldDispatchTarget(lease);
    if (target === null) {
      await this.denyFetch(caller, name, {
        reason: 'dispatch not held',
        dispatch_id: lease.dispatchId,
        worker_id: lease.workerId,
        attempt: lease.attempt,
      });
      throw new WireError(
        'forbidden',
        `worker ${lease.workerId} holds no lease on dispatch ${lease.dispatchId} (attempt ${lease.attempt})`,
      );
    }
    return target;
  }

  private denyFetch(caller: Principal, name: string, details: Record<string, unknown>): Promise<void> {
    return this.deps.audit.record({
      actor: caller.actor,
      tokenId: caller.tokenId,
      action: 'credential.fetch',
      target: name,
      outcome: 'denied',
      details,
    });
  }
}
