import fc from 'fast-check';
import { jsonErrorPosition, jsonErrorText } from './json-position.js';

/** V8's verdict on `text`: valid, the position its message names, or "invalid" when it names none. */
function v8Verdict(text: string): number | 'valid' | 'invalid' {
  try {
    JSON.parse(text);
    return 'valid';
  } catch (err) {
    const match = /position (\d+)/.exec((err as Error).message);
    return match ? Number(match[1]) : 'invalid';
  }
}

describe('jsonErrorPosition', () => {
  it.each([
    ['{"a":}', 5],
    ['{', 1],
    ['', 0],
    ['   ', 3],
    ['nul', 3],
    ['[1, 2,]', 6],
    ['{"a" 1}', 5],
    ['{"a":1} x', 8],
    ['"\\u12', 5],
    ['"\\q"', 2],
    ['-', 1],
    ['1.', 2],
    ['1e+', 3],
    ['01', 1],
    ['"tab\there"', 4],
    ['\ufeff{}', 0],
  ])('finds where %j goes wrong: %i', (text, position) => {
    expect(jsonErrorPosition(text)).toBe(position);
  });

  it('answers -1 for valid JSON, and the offset V8 names whenever V8 names one', () => {
    const jsonish = fc.constantFrom(...'{}[]",:0123456789eE.-+ \t\ntruefalsn\\u/abx'.split(''));
    const texts = fc.oneof(
      fc.string({ unit: jsonish, maxLength: 40 }),
      fc.json(),
      // A valid text with noise spliced in or cut short.
      fc
        .tuple(fc.json(), fc.string({ unit: jsonish, maxLength: 3 }), fc.nat())
        .map(
          ([json, noise, at]) =>
            json.slice(0, at % (json.length + 1)) + noise + json.slice(at % (json.length + 1)),
        ),
      fc.tuple(fc.json(), fc.nat()).map(([json, at]) => json.slice(0, at % (json.length + 1))),
    );
    fc.assert(
      fc.property(texts, (text) => {
        const verdict = v8Verdict(text);
        const position = jsonErrorPosition(text);
        if (verdict === 'valid') expect(position).toBe(-1);
        else if (verdict === 'invalid') expect(position).toBeGreaterThanOrEqual(0);
        else expect(position).toBe(verdict);
      }),
      { numRuns: 1000 },
    );
  });

  it('walks any nesting without recursion', () => {
    const depth = 500_000;
    expect(jsonErrorPosition('['.repeat(depth) + ']'.repeat(depth))).toBe(-1);
    expect(jsonErrorPosition('['.repeat(depth) + '}')).toBe(depth);
  });
});

describe('jsonErrorText', () => {
  it('names only the position, never the text', () => {
    const text = '{"token": nxa_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG}';
    expect(jsonErrorText(text, 'body')).toBe('body is not valid JSON at position 11');
    expect(jsonErrorText(text, 'frame')).toBe('frame is not valid JSON at position 11');
  });
});
