import { WireError } from '../protocol/index.js';
import { TokenRefusals, failureLine, isTokenRefusal } from './token-refusal.js';
import type { TokenSource } from './token-source.js';

const source = (fromFile: boolean): TokenSource => ({
  read: () => 'nxa_x',
  description: fromFile ? 'NEXUS_TOKEN_FILE=/run/token' : 'NEXUS_TOKEN',
  fromFile,
});
const revoked = new WireError('unauthenticated', 'missing, unknown or revoked token');

describe('B.80 refusals', () => {
  it('only 401 and 403 identity_mismatch are permanent; stay_down, 5xx and network errors are not', () => {
    expect(isTokenRefusal(revoked)).toBe(true);
    expect(isTokenRefusal(new WireError('identity_mismatch', 'name'))).toBe(true);
    expect(isTokenRefusal(new WireError('stay_down', 'down'))).toBe(false);
    expect(isTokenRefusal(new WireError('unavailable', 'db'))).toBe(false);
    expect(isTokenRefusal(new WireError('forbidden', 'no'))).toBe(false);
    expect(isTokenRefusal(new TypeError('fetch failed'))).toBe(false);
  });

  it('a token from NEXUS_TOKEN gives up at the first refusal, naming the cause and the source', () => {
    const refusals = new TokenRefusals(source(false), 120);
    expect(refusals.check(new WireError('stay_down', 'down'))).toBeNull();
    expect(refusals.check(revoked)).toBe(
      'the broker refused the token from NEXUS_TOKEN (401 unauthenticated): missing, unknown or revoked token',
    );
  });

  it('a token from a file is retried until the window from the first refusal closes', () => {
    let now = 1_000;
    const refusals = new TokenRefusals(source(true), 10, () => now);
    expect(refusals.check(revoked)).toBeNull();
    expect(refusals.nextDelayMs(30_000)).toBe(10_000);
    now += 4_000;
    expect(refusals.check(new WireError('unavailable', 'db'))).toBeNull();
    // After a failure that is not a refusal, the backoff stands (no hot loop near the window's end).
    expect(refusals.nextDelayMs(2_000)).toBe(2_000);
    now += 5_999;
    expect(refusals.check(revoked)).toBeNull();
    expect(refusals.nextDelayMs(30_000)).toBe(1);
    now += 1;
    expect(refusals.check(revoked)).toBe(
      'the broker refused the token from NEXUS_TOKEN_FILE=/run/token (401 unauthenticated): missing, unknown or revoked token',
    );
  });

  it('an accepted call starts the window again', () => {
    let now = 0;
    const refusals = new TokenRefusals(source(true), 10, () => now);
    expect(refusals.check(revoked)).toBeNull();
    now = 9_000;
    refusals.accepted();
    now = 15_000;
    expect(refusals.check(revoked)).toBeNull();
    now = 25_000;
    expect(refusals.check(revoked)).not.toBeNull();
  });

  it('failureLine is one line: status and code for wire errors, the cause code for fetch failures', () => {
    expect(failureLine(revoked)).toBe('401 unauthenticated: missing, unknown or revoked token');
    const fetchFailed = new TypeError('fetch failed', {
      cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }),
    });
    expect(failureLine(fetchFailed)).toBe('fetch failed (ECONNREFUSED)');
    expect(failureLine('odd')).toBe('odd');
  });
});
