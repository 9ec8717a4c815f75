import type pg from 'pg';
import {
  WireError,
  type MintTokenReply,
  type MintTokenRequest,
  type TokenInfo,
  type TokenKind,
  type TokenListQuery,
} from '../../protocol/index.js';
import type { Logger } from '../../platform/index.js';
import { withTransaction } from '../db/pool.js';
import { withDatabaseRetry } from '../db/retry.js';
import type { Notifier } from '../db/notifier.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { Principal } from '../auth/principal.js';
import type { AuditLog } from '../audit/audit-log.js';
import { hashToken, newTokenValue } from '../auth/token-format.js';
import {
  findLiveBootstrap,
  findTokenByHash,
  insertToken,
  listTokens,
  revokeToken,
  type TokenRow,
} from '../auth/tokens-sql.js';

export const REVOKE_CHANNEL = 'nexus_revoked';

function toInfo(row: TokenRow): TokenInfo {
  return {
    id: row.id,
    kind: row.kind,
    ...(row.aspect ? { aspect: row.aspect } : {}),
    ...(row.name ? { name: row.name } : {}),
    admin: row.admin,
    created_at: row.created_at.toISOString(),
    ...(row.revoked_at ? { revoked_at: row.revoked_at.toISOString() } : {}),
    ...(row.last_used_at ? { last_used_at: row.last_used_at.toISOString() } : {}),
  };
}

/** Mint, list and revoke tokens; the values are shown once and stored only as SHA-256. */
export class TokenService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly notifier: Notifier,
    private readonly authenticator: Authenticator,
    private readonly audit: AuditLog,
    private readonly logger: Logger,
  ) {}

  async mint(caller: Principal, body: MintTokenRequest): Promise<MintTokenReply> {
    const kind: TokenKind = body.kind;
    const value = newTokenValue(kind);
    let row: TokenRow;
    try {
      row = await withDatabaseRetry(() =>
        insertToken(this.pool, {
          hash: hashToken(value),
          kind,
          ...(body.aspect ? { aspect: body.aspect } : {}),
          ...(body.name ? { name: body.name } : {}),
          admin: kind === 'admin' || body.admin === true,
        }),
      );
    } catch (err) {
      if ((err as { constraint?: string }).constraint === 'tokens_live_admin_name') {
        throw new WireError('conflict', `name: a live admin token is already named ${body.name}`);
      }
      throw err;
    }
    await this.audit.allowed(caller, 'token.mint', row.id, {
      kind,
      aspect: body.aspect,
      name: body.name,
      admin: row.admin,
    });
    return {
      id: row.id,
      token: value,
      kind,
      ...(row.aspect ? { aspect: row.aspect } : {}),
      ...(row.name ? { name: row.name } : {}),
      admin: row.admin,
    };
  }

  async list(filter: TokenListQuery): Promise<TokenInfo[]> {
    return (await withDatabaseRetry(() => listTokens(this.pool, filter))).map(toInfo);
  }

  async revoke(caller: Principal, id: string): Promise<void> {
    const row = await withDatabaseRetry(() => revokeToken(this.pool, id));
    if (!row) throw new WireError('not_found', `token ${id} does not exist`);
    await this.audit.allowed(caller, 'token.revoke', id, {
      kind: row.kind,
      aspect: row.aspect,
      name: row.name,
    });
    this.authenticator.markRevoked(id);
    this.notifier.notify(REVOKE_CHANNEL, { tokens: [id] });
  }

  /**
   * Makes `NEXUS_BOOTSTRAP_TOKEN` the live admin token named `bootstrap` (B.25, B.39): inserted if
   * absent, a revoked one stays revoked, and a changed value revokes the old one.
   */
  async ensureBootstrap(value: string): Promise<void> {
    const hash = hashToken(value);
    await withTransaction(this.pool, async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(7220002)');
      const existing = await findTokenByHash(tx, hash);
      if (existing) return; // known already: live, or revoked and staying so
      const live = await findLiveBootstrap(tx);
      if (live) {
        await revokeToken(tx, live.id);
        await tx.query(
          `INSERT INTO audit (actor, token_id, action, target, outcome, details) VALUES ('system', NULL, 'token.bootstrap_replaced', $1, 'allowed', '{}')`,
          [live.id],
        );
        this.logger.info({ tokenId: live.id }, 'bootstrap token changed; the old one is revoked');
      }
      await insertToken(tx, { hash, kind: 'admin', name: 'bootstrap', admin: true });
    });
  }
}
