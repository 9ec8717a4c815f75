import { WireError } from '../../protocol/index.js';
import { classifyDatabaseError, withDatabaseRetry } from './retry.js';

describe('classifyDatabaseError', () => {
  it.each([
    [{ code: '40001' }, 'retry'],
    [{ code: '40P01' }, 'retry'],
    [{ code: '57P01' }, 'unavailable'],
    [{ code: '08006' }, 'unavailable'],
    [{ code: 'ECONNREFUSED' }, 'unavailable'],
    [new Error('Connection terminated unexpectedly'), 'unavailable'],
    [{ code: '23505' }, 'throw'],
    [new Error('boom'), 'throw'],
  ])('classifies %p as %s', (err, expected) => {
    expect(classifyDatabaseError(err)).toBe(expected);
  });
});

describe('withDatabaseRetry', () => {
  it('retries a serialization failure and returns the later result', async () => {
    let calls = 0;
    const result = await withDatabaseRetry(async () => {
      calls++;
      if (calls < 3) throw Object.assign(new Error('could not serialize'), { code: '40001' });
      return 'ok';
    });
    expect([result, calls]).toEqual(['ok', 3]);
  });

  it('turns a connection failure into 503 unavailable with Retry-After', async () => {
    const err = await withDatabaseRetry(() =>
      Promise.reject(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WireError);
    expect(err).toMatchObject({ code: 'unavailable', status: 503, retryAfterS: 1 });
  });

  it('rethrows anything else unchanged', async () => {
    const boom = new Error('boom');
    await expect(withDatabaseRetry(() => Promise.reject(boom))).rejects.toBe(boom);
  });
});
