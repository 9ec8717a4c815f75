/** A token bucket per key: `rate` per second, holding at most `burst`. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly enabled = true,
  ) {}

  /** Takes one token for `key`; returns 0 when allowed, else the seconds until one is available. */
  take(key: string, now = Date.now()): number {
    if (!this.enabled) return 0;
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.rate);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    if (this.buckets.size > 50_000) this.sweep(now);
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.rate));
  }

  /** Drops full buckets so memory stays bounded under many keys. */
  private sweep(now: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * this.rate >= this.burst) this.buckets.delete(key);
    }
  }
}

/** Parses `NEXUS_RATE_HTTP`-style settings: `RATE` or `RATE/BURST`. */
export function parseRate(
  raw: string | undefined,
  fallback: { rate: number; burst: number },
): { rate: number; burst: number } {
  if (!raw) return fallback;
  const [rate, burst] = raw.split('/').map(Number);
  if (!rate || rate <= 0 || !Number.isFinite(rate))
    throw new Error('rate setting must look like RATE or RATE/BURST');
  return { rate, burst: burst && burst > 0 ? burst : rate * 2 };
}
