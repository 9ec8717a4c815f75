/**
 * settleToken and the term's memory of what it wrote into each Secret (ReconcileDeps.secretTokens):
 * a pass that follows a failed one, or runs before the cache shows the StatefulSet, records the
 * token already in the Secret instead of minting another (fault 13: one mint per retry was a loop
 * of status changes, each requeueing at once).
 */
import { WireError } from '../protocol/index.js';
import { BrokerUnavailable } from './broker-client.js';
import { brokerProblem, settleToken } from './broker-steps.js';
import { aspect, brokerView, settings } from './test/fixtures.js';
import type { BrokerAdmin, BrokerToken, KubeWriter, ReconcileDeps } from './types.js';

function fakeDeps(options: { failSecretWrites?: number } = {}) {
  const tokens: BrokerToken[] = [];
  const secrets: string[] = [];
  let failSecretWrites = options.failSecretWrites ?? 0;
  const broker = {
    async mintAspectToken(aspectName: string, name: string, admin: boolean) {
      const id = String(tokens.length + 1);
      tokens.push({ id, kind: 'aspect', aspect: aspectName, name, admin, created_at: id, revoked_at: null });
      return { id, token: `secret-${id}` };
    },
    async revokeToken(id: string) {
      const token = tokens.find((t) => t.id === id);
      if (token) token.revoked_at = 'now';
    },
  } as Partial<BrokerAdmin> as BrokerAdmin;
  const kube = {
    async writeSecret(_ref: unknown, data: Record<string, string>) {
      if (failSecretWrites-- > 0) throw Object.assign(new Error('injected'), { status: 500 });
      secrets.push(data.token as string);
    },
    async event() {},
  } as Partial<KubeWriter> as KubeWriter;
  const deps = (secretTokens?: Map<string, string>): ReconcileDeps => ({
    kube,
    broker,
    settings,
    grantedBy: 'nexus-operator',
    now: () => new Date(),
    ...(secretTokens ? { secretTokens } : {}),
  });
  return { tokens, secrets, deps };
}

const wren = aspect();
const noEvent = async () => undefined;
/** A pass as the reconcile makes it: the StatefulSet never recorded a token (its create fails). */
const pass = (deps: ReconcileDeps, tokens: BrokerToken[]) =>
  settleToken(
    deps,
    {
      aspect: wren,
      broker: brokerView({ ownTokens: structuredClone(tokens) }),
      recordedId: undefined,
      admin: false,
      canRecord: true,
    },
    noEvent,
  );

describe('settleToken', () => {
  it('records the token this term wrote into the Secret rather than minting again', async () => {
    const { tokens, secrets, deps } = fakeDeps();
    const memory = new Map<string, string>();
    const first = await pass(deps(memory), tokens);
    expect({ tokenId: first.tokenId, minted: first.minted }).toEqual({ tokenId: '1', minted: true });
    const again = await pass(deps(memory), tokens);
    expect({ tokenId: again.tokenId, minted: again.minted, revoke: again.revokeAfterRecord }).toEqual({
      tokenId: '1',
      minted: false,
      revoke: [],
    });
    expect(secrets).toEqual(['secret-1']);
  });

  it('mints again, revoking the old one after the record, when the term has no memory of the Secret', async () => {
    const { tokens, secrets, deps } = fakeDeps();
    await pass(deps(new Map()), tokens);
    const next = await pass(deps(new Map()), tokens); // a new leader
    expect({ tokenId: next.tokenId, minted: next.minted, revoke: next.revokeAfterRecord }).toEqual({
      tokenId: '2',
      minted: true,
      revoke: ['1'],
    });
    expect(secrets).toEqual(['secret-1', 'secret-2']);
  });

  it('remembers no Secret whose write failed: what it holds is unknown, so the next pass mints', async () => {
    const { tokens, secrets, deps } = fakeDeps({ failSecretWrites: 1 });
    const memory = new Map<string, string>();
    const failed = await pass(deps(memory), tokens);
    expect(failed.problems.map((p) => p.reason)).toEqual(['WriteFailed']);
    expect([...memory]).toEqual([]);
    const next = await pass(deps(memory), tokens);
    expect({ tokenId: next.tokenId, minted: next.minted, revoke: next.revokeAfterRecord }).toEqual({
      tokenId: '2',
      minted: true,
      revoke: ['1'],
    });
    expect({ secrets, memory: [...memory] }).toEqual({ secrets: ['secret-2'], memory: [['team/wren', '2']] });
  });

  it('does not keep a remembered token that was revoked since', async () => {
    const { tokens, deps } = fakeDeps();
    const memory = new Map<string, string>();
    await pass(deps(memory), tokens);
    tokens[0]!.revoked_at = 'by an admin';
    const next = await pass(deps(memory), tokens);
    expect({ tokenId: next.tokenId, minted: next.minted }).toEqual({ tokenId: '2', minted: true });
  });
});

describe('brokerProblem', () => {
  it('is BrokerUnavailable only when the broker could not answer, BrokerRefused when it refused', () => {
    const down = brokerProblem('minting the token', new BrokerUnavailable('connection refused'));
    expect(down.reason).toBe('BrokerUnavailable');
    const refused = brokerProblem('revoking token 7', new WireError('forbidden', 'not an admin token'));
    expect({ reason: refused.reason, message: refused.error.message }).toEqual({
      reason: 'BrokerRefused',
      message: 'revoking token 7: not an admin token',
    });
  });
});
