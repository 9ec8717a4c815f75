import { ManualClock, flushPromises } from '../../testing/manual-clock.js';
import { LimiterStopped, TokenBucket } from './rate-limiter.js';

describe('the request limiter (B.72 token bucket)', () => {
  /** Starts `n` takes and returns the order in which they were let through. */
  const takeMany = (bucket: TokenBucket, n: number) => {
    const passed: number[] = [];
    for (let i = 0; i < n; i++) void bucket.take().then(() => passed.push(i));
    return passed;
  };

  it('lets a burst through at once, then one request per 1/qps seconds, in arrival order', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket(20, 30, clock);
    const passed = takeMany(bucket, 35);
    await flushPromises();
    expect(passed).toHaveLength(30);

    await clock.advance(49); // the next token is due 50 ms after the burst
    expect(passed).toHaveLength(30);
    await clock.advance(1);
    expect(passed).toHaveLength(31);
    await clock.advance(200);
    expect(passed).toEqual(Array.from({ length: 35 }, (_, i) => i));
  });

  it('tryTake takes a token that is there and never waits for one', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket(5, 2, clock);
    expect([bucket.tryTake(), bucket.tryTake(), bucket.tryTake()]).toEqual([true, true, false]);
    await clock.advance(200); // one token back at 5/s
    expect([bucket.tryTake(), bucket.tryTake()]).toEqual([true, false]);
    bucket.stop();
    await clock.advance(1_000);
    expect(bucket.tryTake()).toBe(false);
  });

  it('holds at most `burst` tokens however long it stays idle', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket(5, 3, clock);
    await clock.advance(60_000);
    expect(bucket.available()).toBe(3);
    const passed = takeMany(bucket, 5);
    await flushPromises();
    expect(passed).toHaveLength(3);
    await clock.advance(400);
    expect(passed).toHaveLength(5);
  });

  it('keeps the long-run rate at qps: 100 requests at 20/s and burst 30 take 3.5 s of clock time', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket(20, 30, clock);
    const passed = takeMany(bucket, 100);
    await clock.advance(3_499);
    expect(passed).toHaveLength(99);
    await clock.advance(1);
    expect(passed).toHaveLength(100);
    expect(clock.pending()).toBe(0);
  });

  it('rejects waiting and later requests once stopped', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket(1, 1, clock);
    await bucket.take();
    const waiting = bucket.take();
    bucket.stop();
    await expect(waiting).rejects.toBeInstanceOf(LimiterStopped);
    await expect(bucket.take()).rejects.toBeInstanceOf(LimiterStopped);
  });

  it('refuses settings that would never let a request through', () => {
    expect(() => new TokenBucket(0, 10)).toThrow('qps must be above 0');
    expect(() => new TokenBucket(1, 0)).toThrow('burst must be at least 1');
  });
});
