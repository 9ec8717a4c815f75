import { RateLimiter, parseRate } from './rate-limiter.js';

describe('RateLimiter', () => {
  it('allows a burst, then refuses with the seconds until the next token', () => {
    const limiter = new RateLimiter(10, 3);
    const t = 1_000_000;
    expect([limiter.take('a', t), limiter.take('a', t), limiter.take('a', t)]).toEqual([0, 0, 0]);
    expect(limiter.take('a', t)).toBe(1);
  });

  it('refills at the rate and keeps keys apart', () => {
    const limiter = new RateLimiter(10, 1);
    expect(limiter.take('a', 0)).toBe(0);
    expect(limiter.take('a', 50)).toBeGreaterThan(0);
    expect(limiter.take('b', 50)).toBe(0);
    expect(limiter.take('a', 100)).toBe(0);
  });

  it('allows everything when disabled', () => {
    const limiter = new RateLimiter(1, 1, false);
    expect(Array.from({ length: 100 }, () => limiter.take('a', 0)).every((w) => w === 0)).toBe(true);
  });
});

describe('parseRate', () => {
  it('reads RATE and RATE/BURST, defaulting the burst to twice the rate', () => {
    expect(parseRate('50', { rate: 1, burst: 1 })).toEqual({ rate: 50, burst: 100 });
    expect(parseRate('50/70', { rate: 1, burst: 1 })).toEqual({ rate: 50, burst: 70 });
    expect(parseRate(undefined, { rate: 1, burst: 2 })).toEqual({ rate: 1, burst: 2 });
  });

  it('refuses a rate that is not a positive number', () => {
    expect(() => parseRate('fast', { rate: 1, burst: 1 })).toThrow('RATE or RATE/BURST');
    expect(() => parseRate('-5', { rate: 1, burst: 1 })).toThrow('RATE or RATE/BURST');
  });
});
