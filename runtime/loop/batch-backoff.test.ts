import { BatchBackoff } from './batch-backoff.js';

describe('BatchBackoff', () => {
  it('holds a failing thread 1 s, doubling to the 60 s cap, and releases it when its turn begins', () => {
    let now = 0;
    const backoff = new BatchBackoff(1000, 60_000, () => now);
    const delays = Array.from({ length: 8 }, () => backoff.failed('7'));
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000]);
    expect(backoff.isHeld('7')).toBe(true);
    expect(backoff.isHeld('8')).toBe(false);
    now = 59_999;
    expect(backoff.nextDueInMs()).toBe(1);
    now = 60_000;
    expect(backoff.isHeld('7')).toBe(false);
    backoff.succeeded('7');
    expect(backoff.nextDueInMs()).toBeNull();
    expect(backoff.failed('7')).toBe(1000);
  });

  it('names the earliest due thread among several', () => {
    let now = 0;
    const backoff = new BatchBackoff(1000, 60_000, () => now);
    backoff.failed('1');
    backoff.failed('1');
    now = 500;
    backoff.failed('2');
    expect(backoff.nextDueInMs()).toBe(1000);
  });
});
