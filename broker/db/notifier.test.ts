import { parseHint } from './notifier.js';

describe('parseHint', () => {
  it('reads an object of string lists and drops anything else', () => {
    expect(parseHint('{"ids":["1","2"],"recipients":["a",3],"x":"y"}')).toEqual({
      ids: ['1', '2'],
      recipients: ['a'],
    });
  });

  it('reads an unreadable payload as "poll everything"', () => {
    expect(parseHint('not json')).toEqual({ all: ['1'] });
    expect(parseHint('[1,2]')).toEqual({ all: ['1'] });
  });
});
