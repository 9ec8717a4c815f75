import { desiredGrants, planGrants } from './grants.js';
import { aspect, brokerView, parsed } from './test/fixtures.js';
import { decideToken, ownsAspectName } from './tokens.js';
import type { BrokerToken } from './types.js';

const NAME = 'operator:team/wren';
const token = (id: string, extra: Partial<BrokerToken> = {}): BrokerToken => ({
  id,
  kind: 'aspect',
  aspect: 'wren',
  name: NAME,
  admin: false,
  created_at: `2026-01-01T00:00:${id.padStart(2, '0')}Z`,
  revoked_at: null,
  ...extra,
});

describe('decideToken (B.25, B.94)', () => {
  it('mints a first token', () => {
    expect(decideToken(brokerView(), NAME, undefined, false)).toEqual({
      kind: 'mint',
      admin: false,
      revokeAfter: [],
      why: 'no token yet',
    });
  });

  it('keeps the recorded token while it is live: no broker write, no Secret write', () => {
    expect(decideToken(brokerView({ ownTokens: [token('7')] }), NAME, '7', false)).toEqual({
      kind: 'keep',
      id: '7',
      revoke: [],
    });
  });

  it('mints again when the recorded token was revoked or is gone, then revokes every other live one', () => {
    const view = brokerView({ ownTokens: [token('7', { revoked_at: '2026-01-02T00:00:00Z' }), token('5')] });
    expect(decideToken(view, NAME, '7', false)).toMatchObject({
      kind: 'mint',
      revokeAfter: ['5'],
      why: 'token 7 is revoked or gone',
    });
    expect(decideToken(brokerView(), NAME, '7', false)).toMatchObject({ kind: 'mint', revokeAfter: [] });
  });

  it('mints a fresh token after a crash between mint and record (the Secret may hold either)', () => {
    // 8 was minted (and maybe written into the Secret) but never recorded: which one the Secret holds is unknown.
    const view = brokerView({ ownTokens: [token('7'), token('8')] });
    expect(decideToken(view, NAME, '7', false)).toMatchObject({
      kind: 'mint',
      revokeAfter: ['7', '8'],
      why: 'a rotation was interrupted',
    });
  });

  it('mints again when a newer token, even one revoked since, may be what the Secret holds', () => {
    const view = brokerView({ ownTokens: [token('7'), token('8', { revoked_at: '2026-01-02T00:00:00Z' })] });
    expect(decideToken(view, NAME, '7', false)).toMatchObject({ kind: 'mint', revokeAfter: ['7'] });
  });

  it('finishes a rotation that crashed after recording: revokes the older token', () => {
    const view = brokerView({ ownTokens: [token('7'), token('8')] });
    expect(decideToken(view, NAME, '8', false)).toEqual({ kind: 'keep', id: '8', revoke: ['7'] });
  });

  it('mints an admin token for a frame, and a plain one when it stops being a frame (B.67)', () => {
    expect(decideToken(brokerView({ ownTokens: [token('7')] }), NAME, '7', true)).toMatchObject({
      kind: 'mint',
      admin: true,
      revokeAfter: ['7'],
    });
    expect(
      decideToken(brokerView({ ownTokens: [token('7', { admin: true })] }), NAME, '7', false),
    ).toMatchObject({ kind: 'mint', admin: false });
  });

  it('mints nothing when another namespace holds the name, unless this one holds it first (B.68)', () => {
    const foreign = brokerView({ foreignTokenNames: ['operator:other/wren'] });
    expect(decideToken(foreign, NAME, undefined, false)).toEqual({
      kind: 'nameInUse',
      holder: 'operator:other/wren',
    });
    const both = brokerView({ ownTokens: [token('7')], foreignTokenNames: ['operator:other/wren'] });
    expect(decideToken(both, NAME, '7', false)).toMatchObject({ kind: 'keep' });
    // A token someone minted by hand for the name is not another namespace's operator.
    expect(decideToken(brokerView({ foreignTokenNames: ['ci'] }), NAME, undefined, false)).toMatchObject({
      kind: 'mint',
    });
  });

  it('ignores tokens of other names', () => {
    const view = brokerView({ ownTokens: [token('9', { name: 'something-else' })] });
    expect(decideToken(view, NAME, '9', false)).toMatchObject({ kind: 'mint', revokeAfter: [] });
  });
});

describe('grants (B.66, B.95)', () => {
  it('are spec.credentials plus the provider’s credential', () => {
    expect(desiredGrants(parsed(aspect({ credentials: ['github'] })))).toEqual(['anthropic', 'github']);
    expect(
      desiredGrants(
        parsed(
          aspect({ provider: { kind: 'claude-api', model: 'claude-sonnet-4-5', credential: 'corp-key' } }),
        ),
      ),
    ).toEqual(['corp-key']);
    expect(desiredGrants(parsed(aspect({ provider: { kind: 'scripted' } })))).toEqual([]);
    expect(
      desiredGrants(
        parsed(aspect({ provider: { kind: 'claude-api', model: 'claude-sonnet-4-5', credential: null } })),
      ),
    ).toEqual([]);
  });

  it('grant what is missing and revoke only what the operator granted and the spec dropped', () => {
    expect(
      planGrants(['anthropic', 'github'], { held: ['github', 'old'], byOperator: ['github', 'old'] }),
    ).toEqual({
      grant: ['anthropic'],
      revoke: ['old'],
    });
    expect(planGrants(['anthropic'], { held: ['anthropic'], byOperator: ['anthropic'] })).toEqual({
      grant: [],
      revoke: [],
    });
  });

  it('grant nothing the aspect already holds from someone else, and never revoke such a grant', () => {
    // The broker keeps the first granter: granting again would change nothing, every pass.
    expect(planGrants(['anthropic'], { held: ['anthropic'], byOperator: [] })).toEqual({
      grant: [],
      revoke: [],
    });
    expect(planGrants([], { held: ['anthropic'], byOperator: [] })).toEqual({ grant: [], revoke: [] });
  });
});

describe('ownsAspectName (B.62, B.68)', () => {
  const foreign = ['operator:other/wren'];

  it('is ours while we hold a live token, or while no other namespace holds the name', () => {
    expect(ownsAspectName(brokerView({ ownTokens: [token('7')], foreignTokenNames: foreign }), NAME)).toBe(
      true,
    );
    expect(ownsAspectName(brokerView({ ownTokens: [token('7', { revoked_at: 'then' })] }), NAME)).toBe(true);
    expect(ownsAspectName(brokerView(), NAME)).toBe(true);
  });

  it("is the other namespace's when our only token is revoked and theirs is live", () => {
    const view = brokerView({ ownTokens: [token('7', { revoked_at: 'then' })], foreignTokenNames: foreign });
    expect(ownsAspectName(view, NAME)).toBe(false);
    expect(ownsAspectName(brokerView({ foreignTokenNames: foreign }), NAME)).toBe(false);
  });
});
