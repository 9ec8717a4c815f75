/**
 * Credential grants kept in sync with an Aspect (B.28, B.66, B.95): the grants this operator's
 * token made to the aspect, with any grants others made, cover exactly `spec.credentials` plus the
 * provider's credential. Grants anyone else made are never touched (the broker enforces it through
 * `granted_by`).
 */
import type { ProviderConfig } from '../protocol/aspect-config.js';
import type { ParsedAspect } from '../protocol/aspect-resource.js';

/**
 * The credential a provider block needs: explicit, `anthropic` for claude-api, else none (B.53).
 * The same rule as the runtime's `credentialNameFor`, which the operator may not import.
 */
export function providerCredential(provider: ProviderConfig): string | null {
  if (provider.credential !== undefined) return provider.credential;
  return provider.kind === 'claude-api' ? 'anthropic' : null;
}

/** The credential names the aspect should hold from this operator, sorted. */
export function desiredGrants(parsed: ParsedAspect): string[] {
  const names = new Set(parsed.kube.credentials);
  const provider = providerCredential(parsed.config.provider);
  if (provider) names.add(provider);
  return [...names].sort();
}

/**
 * What to grant and what to revoke so the aspect holds `desired`: grant what it holds from nobody
 * (a grant someone else made already serves, and the broker keeps its first granter, so granting
 * it again would change nothing on every pass); revoke only what the operator granted and the
 * spec no longer names.
 */
export function planGrants(
  desired: string[],
  current: { held: string[]; byOperator: string[] },
): { grant: string[]; revoke: string[] } {
  const held = new Set(current.held);
  const want = new Set(desired);
  return {
    grant: desired.filter((c) => !held.has(c)),
    revoke: current.byOperator.filter((c) => !want.has(c)).sort(),
  };
}
