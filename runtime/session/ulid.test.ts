import { ulidGenerator } from './ulid.js';

describe('ulidGenerator', () => {
  it('makes 26-character Crockford ids that sort in creation order, within one millisecond too', () => {
    const next = ulidGenerator(() => 1_700_000_000_000);
    const ids = Array.from({ length: 1000 }, next);
    expect(ids.every((id) => /^[0-9A-HJKMNP-TV-Z]{26}$/.test(id))).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(1000);
  });
});
