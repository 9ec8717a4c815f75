import { ManualClock, flushPromises } from '../testing/manual-clock.js';
import { WorkQueue, type QueueOutcome } from './work-queue.js';

/** A handler whose runs the test finishes by hand, recording when each started. */
class Handler {
  readonly started: { key: string; at: number }[] = [];
  private readonly open = new Map<string, ((outcome: QueueOutcome) => void)[]>();
  running = 0;
  maxRunning = 0;
  maxRunningPerKey = 0;
  private readonly perKey = new Map<string, number>();

  constructor(private readonly clock: ManualClock) {}

  handle = (key: string): Promise<QueueOutcome> => {
    this.started.push({ key, at: this.clock.now() });
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    const n = (this.perKey.get(key) ?? 0) + 1;
    this.perKey.set(key, n);
    this.maxRunningPerKey = Math.max(this.maxRunningPerKey, n);
    return new Promise((resolve) => {
      const list = this.open.get(key) ?? [];
      list.push((outcome) => {
        this.running--;
        this.perKey.set(key, (this.perKey.get(key) ?? 1) - 1);
        resolve(outcome);
      });
      this.open.set(key, list);
    });
  };

  /** Ends the oldest open run of `key`. */
  async finish(key: string, outcome: QueueOutcome = {}): Promise<void> {
    const end = this.open.get(key)?.shift();
    if (!end) throw new Error(`no run of ${key} is open`);
    end(outcome);
    await flushPromises();
  }

  runsOf(key: string): number[] {
    return this.started.filter((s) => s.key === key).map((s) => s.at);
  }
}

const setup = (options: { workers?: number } = {}) => {
  const clock = new ManualClock();
  const handler = new Handler(clock);
  const queue = new WorkQueue({ handle: handler.handle, clock, ...options });
  return { clock, handler, queue };
};

describe('the operator work queue', () => {
  it('never runs one key twice at once; a change mid-run runs it once more right after', async () => {
    const { handler, queue } = setup();
    queue.add('ns/a');
    await flushPromises();
    queue.add('ns/a');
    queue.add('ns/a');
    await flushPromises();
    expect(handler.runsOf('ns/a')).toHaveLength(1);
    await handler.finish('ns/a');
    expect(handler.runsOf('ns/a')).toHaveLength(2); // the changes arrived mid-run: one more run
    await handler.finish('ns/a');
    expect(handler.runsOf('ns/a')).toHaveLength(2);
    expect(handler.maxRunningPerKey).toBe(1);
  });

  it('folds repeated adds of a waiting key into one run, and runs at most `workers` keys at once', async () => {
    const { handler, queue } = setup({ workers: 2 });
    for (const key of ['n/a', 'n/b', 'n/c', 'n/c', 'n/d', 'n/c']) queue.add(key);
    await flushPromises();
    expect(handler.started.map((s) => s.key)).toEqual(['n/a', 'n/b']);
    expect(queue.depth()).toBe(2);
    await handler.finish('n/a');
    await handler.finish('n/b');
    await handler.finish('n/c');
    await handler.finish('n/d');
    expect(handler.started.map((s) => s.key)).toEqual(['n/a', 'n/b', 'n/c', 'n/d']);
    expect(handler.maxRunning).toBe(2);
    expect(queue.depth()).toBe(0);
  });

  it('retries a failing key after 500 ms doubling to 5 min, gaps never shrinking, and resets on success', async () => {
    const { clock, handler, queue } = setup();
    queue.add('n/a');
    await flushPromises();
    const gaps: number[] = [];
    for (let i = 0; i < 12; i++) {
      await handler.finish('n/a', { error: new Error('broker down') });
      const before = handler.runsOf('n/a').length;
      // Move in small steps until the retry starts, so the gap is measured on the clock.
      while (handler.runsOf('n/a').length === before) await clock.advance(100);
      const runs = handler.runsOf('n/a');
      gaps.push((runs.at(-1) as number) - (runs.at(-2) as number));
    }
    expect(gaps).toEqual([500, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000, 300000]);
    expect(queue.failuresOf('n/a')).toBe(12);

    await handler.finish('n/a'); // success
    expect(queue.failuresOf('n/a')).toBe(0);
    await clock.advance(600_000);
    expect(handler.runsOf('n/a')).toHaveLength(13); // no retry after a success
    queue.add('n/a');
    await flushPromises();
    await handler.finish('n/a', { error: new Error('again') });
    await clock.advance(499);
    expect(handler.runsOf('n/a')).toHaveLength(14);
    await clock.advance(1);
    expect(handler.runsOf('n/a')).toHaveLength(15); // back to 500 ms
  });

  it('runs a changed key at once during its backoff, keeping the failure count', async () => {
    const { clock, handler, queue } = setup();
    queue.add('n/a');
    await flushPromises();
    await handler.finish('n/a', { error: new Error('1') });
    await clock.advance(500);
    await handler.finish('n/a', { error: new Error('2') }); // now waiting 1000 ms
    await clock.advance(200);
    queue.add('n/a'); // the referenced ConfigMap was created (B.107)
    await flushPromises();
    expect(handler.runsOf('n/a')).toEqual([0, 500, 700]);
    await handler.finish('n/a', { error: new Error('3') });
    expect(queue.failuresOf('n/a')).toBe(3);
    await clock.advance(1999);
    expect(handler.runsOf('n/a')).toHaveLength(3);
    await clock.advance(1);
    expect(handler.runsOf('n/a')).toHaveLength(4); // the backoff went on growing: 2000 ms
  });

  it('keeps the failure count and its backoff through a deferred run (the cache was behind)', async () => {
    const { clock, handler, queue } = setup();
    queue.add('n/a');
    await flushPromises();
    await handler.finish('n/a', { error: new Error('1') });
    await clock.advance(500);
    await handler.finish('n/a', { error: new Error('2') }); // now waiting 1000 ms
    queue.add('n/a'); // the watch shows the failed pass's own status write
    await flushPromises();
    await handler.finish('n/a', { requeueAfterMs: 1000, deferred: true });
    expect(queue.failuresOf('n/a')).toBe(2);
    await clock.advance(999);
    expect(handler.runsOf('n/a')).toEqual([0, 500, 500]);
    await clock.advance(1);
    expect(handler.runsOf('n/a')).toEqual([0, 500, 500, 1500]);
    await handler.finish('n/a', { error: new Error('3') });
    expect(queue.failuresOf('n/a')).toBe(3);
  });

  it('requeues after requeueAfterMs, keeps the earliest of two delays, and a change meanwhile runs at once', async () => {
    const { clock, handler, queue } = setup();
    queue.add('n/a');
    await flushPromises();
    await handler.finish('n/a', { requeueAfterMs: 10_000 });
    queue.addAfter('n/a', 20_000); // later than the pending one: ignored
    queue.addAfter('n/a', 3_000); // earlier: wins
    await clock.advance(3_000);
    expect(handler.runsOf('n/a')).toEqual([0, 3000]);
    await handler.finish('n/a', { requeueAfterMs: 5_000 });
    await clock.advance(1_000);
    queue.add('n/a');
    await flushPromises();
    await handler.finish('n/a');
    await clock.advance(60_000);
    expect(handler.runsOf('n/a')).toEqual([0, 3000, 4000]); // the change replaced the delayed look
  });

  it('counts a thrown handler as a failure, and forget() drops a retry', async () => {
    const clock = new ManualClock();
    let runs = 0;
    const thrown: unknown[] = [];
    const queue = new WorkQueue({
      clock,
      handle: () => {
        runs++;
        return Promise.reject(new Error('bug'));
      },
      onThrown: (_key, err) => thrown.push(err),
    });
    queue.add('n/a');
    await flushPromises();
    expect(queue.failuresOf('n/a')).toBe(1);
    expect(thrown).toHaveLength(1);
    queue.forget('n/a');
    await clock.advance(10_000);
    expect(runs).toBe(1);
  });

  it('stops: drops waiting and delayed keys, waits for running ones, and takes nothing new', async () => {
    const { clock, handler, queue } = setup({ workers: 1 });
    queue.add('n/a');
    queue.add('n/b');
    queue.addAfter('n/c', 100);
    await flushPromises();
    let stopped = false;
    const stopping = queue.stop().then(() => (stopped = true));
    await flushPromises();
    expect(stopped).toBe(false);
    await handler.finish('n/a', { requeueAfterMs: 1 });
    await stopping;
    queue.add('n/d');
    await clock.advance(1_000);
    expect(handler.started.map((s) => s.key)).toEqual(['n/a']);
    expect(clock.pending()).toBe(0);
  });
});
