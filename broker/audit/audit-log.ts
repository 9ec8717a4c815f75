import type { Logger } from '../../platform/index.js';
import type { Queryable } from '../db/pool.js';
import type { Principal } from '../auth/principal.js';
import { insertAudit, type AuditRecord } from './audit-sql.js';

/**
 * Writes audit rows. A failed audit write is logged, never turned into a client error: the audit
 * log is not state (B.7), and a refusal must stay a refusal even when the database is away.
 */
export class AuditLog {
  private readonly unknownTokenMinute = new Map<string, number>();

  constructor(
    private readonly db: Queryable,
    private readonly logger: Logger,
  ) {}

  async record(record: AuditRecord): Promise<void> {
    try {
      await insertAudit(this.db, record);
    } catch (err) {
      this.logger.warn({ err, action: record.action }, 'audit write failed');
    }
  }

  /** A refused authorisation by a known token (403): one row each (B.7). */
  denied(
    principal: Principal,
    action: string,
    target: string | null,
    details: Record<string, unknown> = {},
  ): void {
    void this.record({
      actor: principal.actor,
      tokenId: principal.tokenId,
      action,
      target,
      outcome: 'denied',
      details,
    });
  }

  /** An admin action that was carried out. */
  allowed(
    principal: Principal,
    action: string,
    target: string | null,
    details: Record<string, unknown> = {},
  ): Promise<void> {
    return this.record({
      actor: principal.actor,
      tokenId: principal.tokenId,
      action,
      target,
      outcome: 'allowed',
      details,
    });
  }

  /** Unknown or revoked tokens: one row per client address per minute (B.7). */
  unknownToken(address: string): void {
    const minute = Math.floor(Date.now() / 60_000);
    if (this.unknownTokenMinute.get(address) === minute) return;
    if (this.unknownTokenMinute.size > 10_000) this.unknownTokenMinute.clear();
    this.unknownTokenMinute.set(address, minute);
    void this.record({
      actor: `address:${address}`,
      tokenId: null,
      action: 'authenticate',
      target: null,
      outcome: 'denied',
      details: { reason: 'unknown or revoked token' },
    });
  }
}
