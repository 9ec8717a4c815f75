import type { Identity } from '../../protocol/index.js';
import { WireError } from '../../protocol/index.js';
import type { TokenRow } from './tokens-sql.js';

/** Who is calling, decided by the token alone (SPEC section 3, B.8). */
export interface Principal {
  tokenId: string;
  kind: 'aspect' | 'worker' | 'admin';
  /** The aspect name, the admin token's name, or the worker token's name. */
  name: string;
  /** Passes admin checks: admin tokens and admin-scoped aspect tokens (B.4). */
  admin: boolean;
  /** The address messages from this caller carry: the aspect name or `op:NAME`; null for workers. */
  address: string | null;
  /** How the audit log names this caller. */
  actor: string;
  /** The token's own name (B.95's `granted_by`): its `name`, else the aspect or worker name. */
  tokenName: string;
}

export function principalFromToken(row: TokenRow): Principal {
  if (row.kind === 'aspect') {
    const name = row.aspect as string;
    return {
      tokenId: row.id,
      kind: 'aspect',
      name,
      admin: row.admin,
      address: name,
      actor: `aspect:${name}`,
      tokenName: row.name ?? name,
    };
  }
  if (row.kind === 'admin') {
    const name = row.name as string;
    return {
      tokenId: row.id,
      kind: 'admin',
      name,
      admin: true,
      address: `op:${name}`,
      actor: `op:${name}`,
      tokenName: name,
    };
  }
  const name = row.name ?? `worker-${row.id}`;
  return {
    tokenId: row.id,
    kind: 'worker',
    name,
    admin: false,
    address: null,
    actor: `worker:${name}`,
    tokenName: name,
  };
}

/** The identity a `welcome` frame reports (B.9). */
export function identityOf(principal: Principal): Identity {
  return { kind: principal.kind, name: principal.name, admin: principal.admin };
}

/** Throws `403 admin_required` unless the caller passes admin checks. */
export function requireAdmin(principal: Principal): void {
  if (!principal.admin) throw new WireError('admin_required', 'this call needs an admin token');
}

/** Throws `403 forbidden` unless the caller holds an aspect token (admin-scoped or not). */
export function requireAspect(principal: Principal): asserts principal is Principal & { kind: 'aspect' } {
  if (principal.kind !== 'aspect') throw new WireError('forbidden', 'this call needs an aspect token');
}
