/**
 * The reconcile's steps that act at the broker: the token (B.25, B.61, B.94), the revocations
 * that finish a rotation, and the grants (B.95). Each failure comes back as a Problem: the pass
 * goes on with what it can do, reports them as Warning Events and requeues with backoff.
 */
import { planGrants } from './grants.js';
import { apiMessageOf } from './kube/errors.js';
import { namespaceOf, ownedLabels, ownerReferenceTo, aspectTokenName } from './meta.js';
import { isOutage } from './observed.js';
import type { TokenFact } from './status.js';
import { decideToken, type TokenDecision } from './tokens.js';
import { objectNames, type AspectObject, type BrokerView, type ReconcileDeps } from './types.js';

/** A failure of a pass: its Event reason and what to say. */
export interface Problem {
  reason: 'BrokerUnavailable' | 'BrokerRefused' | 'ConfigMapMissing' | 'GrantFailed' | 'WriteFailed';
  error: Error;
}

export const problem = (reason: Problem['reason'], message: string, cause?: unknown): Problem => ({
  reason,
  error: new Error(message, cause === undefined ? undefined : { cause }),
});

/**
 * A failed token call: BrokerUnavailable only when the broker could not answer; a broker that
 * answered and refused (a WireError: 403, 409 …) is BrokerRefused, which waiting will not mend.
 */
export const brokerProblem = (message: string, err: unknown): Problem =>
  problem(isOutage(err) ? 'BrokerUnavailable' : 'BrokerRefused', `${message}: ${apiMessageOf(err)}`, err);

export type Emit = (type: 'Normal' | 'Warning', reason: string, message: string) => Promise<unknown>;

/** What the token condition says when no mint is attempted. */
export function tokenFactOf(
  broker: BrokerView | undefined,
  aspect: AspectObject,
  recordedId: string | undefined,
): TokenFact {
  if (!broker)
    return {
      kind: 'unknown',
      message: 'the broker could not be asked; the token is checked when it answers',
    };
  const name = aspectTokenName(aspect);
  const live = broker.ownTokens.find((t) => t.name === name && t.id === recordedId && !t.revoked_at);
  return live
    ? { kind: 'ready', id: live.id }
    : { kind: 'pending', message: 'no live token is recorded yet' };
}

export interface TokenStep {
  token: TokenFact;
  /** The id the StatefulSet should record; undefined: do not write the StatefulSet. */
  tokenId: string | undefined;
  /** Revoke these once `tokenId` is recorded on the StatefulSet, never before. */
  revokeAfterRecord: string[];
  nameInUse: boolean;
  /** A token was minted (and written into the Secret) in this pass. */
  minted: boolean;
  problems: Problem[];
}

export interface TokenInput {
  aspect: AspectObject;
  broker: BrokerView | undefined;
  /** The id on the StatefulSet's metadata (B.94). */
  recordedId: string | undefined;
  /** A frame's token is admin (B.67). */
  admin: boolean;
  /** The StatefulSet can be written in this pass, so a new token's id gets recorded at once. */
  canRecord: boolean;
}

/**
 * Keeps or mints the aspect's token. A mint happens only when the id can be recorded in the same
 * pass; the old live tokens are revoked after the record (operator/reconcile.ts), so a running pod
 * keeps working until its Secret holds the new one. An admin token is the exception: one live
 * admin token per name (B.4), so a frame's old tokens go first (its pod is restarting anyway
 * after a role change, or holds a revoked token already).
 */
export async function settleToken(deps: ReconcileDeps, input: TokenInput, event: Emit): Promise<TokenStep> {
  const { aspect, broker, recordedId } = input;
  const step: TokenStep = {
    token: tokenFactOf(broker, aspect, recordedId),
    // The broker cannot say otherwise: keep what is recorded.
    tokenId: broker ? undefined : recordedId,
    revokeAfterRecord: [],
    nameInUse: false,
    minted: false,
    problems: [],
  };
  if (!broker) return step;
  const name = aspect.metadata.name;
  const key = `${namespaceOf(aspect)}/${name}`;
  const decision = decideWithMemory(
    broker,
    aspectTokenName(aspect),
    recordedId,
    input.admin,
    deps.secretTokens?.get(key),
  );
  if (decision.kind === 'nameInUse') {
    step.nameInUse = true;
    step.token = { kind: 'nameInUse', holder: decision.holder };
    if (!(aspect.status?.conditions ?? []).some((c) => c.reason === 'NameInUse'))
      await event('Warning', 'NameInUse', `the aspect name ${name} is held by ${decision.holder} (B.68)`);
    return step;
  }
  if (decision.kind === 'keep') {
    return {
      ...step,
      tokenId: decision.id,
      token: { kind: 'ready', id: decision.id },
      revokeAfterRecord: decision.revoke,
    };
  }
  if (!input.canRecord) {
    step.token = { kind: 'pending', message: 'minted once the pod configuration can be written' };
    return step;
  }
  let revokeAfter = decision.revokeAfter;
  if (decision.admin) {
    const problems = await revokeTokens(deps, revokeAfter);
    if (problems.length > 0)
      return { ...step, token: { kind: 'unknown', message: problems[0]!.error.message }, problems };
    revokeAfter = [];
  }
  let minted: { id: string; token: string };
  try {
    minted = await deps.broker.mintAspectToken(name, aspectTokenName(aspect), decision.admin);
  } catch (err) {
    const failure = brokerProblem('minting the token', err);
    return { ...step, token: { kind: 'unknown', message: failure.error.message }, problems: [failure] };
  }
  const secret = objectNames(name).secret;
  deps.secretTokens?.delete(key); // until the write succeeds, what the Secret holds is unknown
  try {
    await deps.kube.writeSecret(
      { apiVersion: 'v1', kind: 'Secret', namespace: namespaceOf(aspect), name: secret },
      { token: minted.token },
      ownerReferenceTo(aspect),
      ownedLabels(name),
    );
  } catch (err) {
    // The new token is live but in no Secret: the next pass sees it newer than the recorded one
    // and mints again, revoking both (operator/tokens.ts).
    const message = `writing Secret ${secret}: ${apiMessageOf(err)}`;
    return { ...step, token: { kind: 'pending', message }, problems: [problem('WriteFailed', message, err)] };
  }
  deps.secretTokens?.set(key, minted.id);
  await event('Normal', 'TokenMinted', `minted token ${minted.id} into Secret ${secret} (${decision.why})`);
  return {
    ...step,
    tokenId: minted.id,
    token: { kind: 'ready', id: minted.id },
    revokeAfterRecord: revokeAfter,
    minted: true,
  };
}

/**
 * decideToken, but a token this term wrote into the Secret and the StatefulSet does not record
 * yet is kept when it is live and the newest of ours: the Secret holds it, so recording it is
 * enough (a mint would only churn tokens on every retry of a failing write, or on a stale cache).
 */
function decideWithMemory(
  broker: BrokerView,
  tokenName: string,
  recordedId: string | undefined,
  admin: boolean,
  writtenId: string | undefined,
): TokenDecision {
  if (writtenId && writtenId !== recordedId) {
    const remembered = decideToken(broker, tokenName, writtenId, admin);
    if (remembered.kind === 'keep') return remembered;
  }
  return decideToken(broker, tokenName, recordedId, admin);
}

export async function revokeTokens(deps: ReconcileDeps, ids: string[]): Promise<Problem[]> {
  const problems: Problem[] = [];
  for (const id of ids) {
    try {
      await deps.broker.revokeToken(id);
    } catch (err) {
      problems.push(brokerProblem(`revoking token ${id}`, err));
    }
  }
  return problems;
}

/** Makes `aspect` hold exactly `desired` through the operator's grants; others' are not touched. */
export async function syncGrants(
  deps: ReconcileDeps,
  broker: BrokerView,
  aspect: string,
  desired: string[],
  event: Emit,
): Promise<Problem[]> {
  const { grant, revoke } = planGrants(desired, {
    held: broker.grantsHeld,
    byOperator: broker.grantsByOperator,
  });
  const problems: Problem[] = [];
  for (const credential of grant) {
    try {
      await deps.broker.grant(credential, aspect);
    } catch (err) {
      problems.push(problem('GrantFailed', `granting credential ${credential}: ${apiMessageOf(err)}`, err));
    }
  }
  for (const credential of revoke) {
    try {
      await deps.broker.revokeGrant(credential, aspect, deps.grantedBy);
    } catch (err) {
      problems.push(problem('GrantFailed', `revoking the grant of ${credential}: ${apiMessageOf(err)}`, err));
    }
  }
  if (grant.length + revoke.length > problems.length)
    await event(
      'Normal',
      'GrantsChanged',
      `credentials granted by the operator: ${desired.join(', ') || 'none'}`,
    );
  return problems;
}
