/**
 * What to do about an Aspect's token (B.25, B.61, B.68, B.94), decided from the broker's token
 * list and the id recorded on the StatefulSet; the Secret is never read.
 *
 * The write order of a rotation is mint → write the Secret → record the id on the StatefulSet →
 * revoke the other live tokens of the same name. A crash may stop it at any step, so the Secret
 * holds the newest of our tokens minted before the crash, and the recorded id names it only if
 * the record step ran. Hence the rule: keep the recorded token only when it is live, of the right
 * kind and the newest of our tokens, revoked ones included (then the Secret holds it, and any
 * older live one is left over from an interrupted rotation: revoke it); otherwise mint again,
 * which ends with exactly one live token, recorded and in the Secret.
 *
 * A frame's token is admin, and a name may have only one live admin token (B.4): its old tokens
 * are revoked before the mint instead (operator/broker-steps.ts).
 */
import type { BrokerToken, BrokerView } from './types.js';

export type TokenDecision =
  /** The recorded token is the one in the Secret; `revoke` lists leftovers of a rotation. */
  | { kind: 'keep'; id: string; revoke: string[] }
  /** Mint, write the Secret, record the id, then revoke `revokeAfter` (all our other live ones). */
  | { kind: 'mint'; admin: boolean; revokeAfter: string[]; why: string }
  /** The name is held from another namespace (B.68): mint nothing. */
  | { kind: 'nameInUse'; holder: string };

const isLive = (t: BrokerToken) => !t.revoked_at;

/** Token ids are decimal strings from a sequence: a larger one was minted later. */
function newer(a: BrokerToken, b: BrokerToken): boolean {
  if (/^\d+$/.test(a.id) && /^\d+$/.test(b.id)) return BigInt(a.id) > BigInt(b.id);
  return a.created_at > b.created_at;
}

/** The live operator token names that say another namespace holds this aspect's name (B.68). */
export function otherHolders(view: BrokerView, ourName: string): string[] {
  return view.foreignTokenNames.filter((name) => name !== ourName && name.startsWith('operator:'));
}

/**
 * Whether the broker's aspect (its registration and the operator's grants) belongs to this Aspect,
 * so deleting it may deregister and revoke them (B.62, B.68): it holds a live token of ours, or no
 * other namespace holds the name. A revoked token of ours says nothing: the name may have passed
 * to another namespace since (its Aspect then shows NameInUse here).
 */
export function ownsAspectName(view: BrokerView, ourName: string): boolean {
  return (
    view.ownTokens.some((t) => t.name === ourName && isLive(t)) || otherHolders(view, ourName).length === 0
  );
}

export function decideToken(
  view: BrokerView,
  ourName: string,
  recordedId: string | undefined,
  admin: boolean,
): TokenDecision {
  const ours = view.ownTokens.filter((t) => t.name === ourName);
  const live = ours.filter(isLive);
  const recorded = live.find((t) => t.id === recordedId);
  const holders = otherHolders(view, ourName);
  // First come, first served: while we hold a live token the name is ours, whatever else appears.
  if (live.length === 0 && holders.length > 0) return { kind: 'nameInUse', holder: holders[0]! };
  const revokeAfter = live.map((t) => t.id);
  if (!recorded)
    return {
      kind: 'mint',
      admin,
      revokeAfter,
      why: recordedId ? `token ${recordedId} is revoked or gone` : 'no token yet',
    };
  if (recorded.admin !== admin)
    return {
      kind: 'mint',
      admin,
      revokeAfter,
      why: admin ? 'a frame needs an admin token' : 'no longer a frame',
    };
  // Any newer token, even revoked since, may be the one the Secret holds (a Secret write or a
  // record that failed): only a fresh mint is sure to be in the Secret.
  if (ours.some((t) => newer(t, recorded)))
    return { kind: 'mint', admin, revokeAfter, why: 'a rotation was interrupted' };
  return { kind: 'keep', id: recorded.id, revoke: live.filter((t) => t !== recorded).map((t) => t.id) };
}
