/** Polls `check` until it returns a truthy value or `timeoutMs` passes; returns the value and the time taken. */
export async function waitUntil<T>(
  check: () => T | Promise<T>,
  options: { timeoutMs: number; intervalMs?: number; what: string },
): Promise<{ value: NonNullable<T>; elapsedMs: number }> {
  const started = Date.now();
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return { value: value as NonNullable<T>, elapsedMs: Date.now() - started };
    } catch (err) {
      lastError = err;
    }
    if (Date.now() - started > options.timeoutMs) {
      const suffix = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}${suffix}`);
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 20));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
