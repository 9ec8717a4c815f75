import { bodyHash, canonicalJson } from './canonical-json.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops undefined fields', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[2,{"y":2,"z":1}]},"b":1}',
    );
  });

  it('gives one hash for bodies that differ only in key order', () => {
    expect(bodyHash({ content: 'x', to: ['a'] })).toBe(bodyHash({ to: ['a'], content: 'x' }));
    expect(bodyHash({ content: 'x', to: ['a'] })).not.toBe(bodyHash({ content: 'y', to: ['a'] }));
  });
});
