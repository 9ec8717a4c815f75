import { createLogger } from '../../platform/index.js';
import { ClaimGate } from './claim-gate.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const claimer = { workerId: 'w1', tokenId: '1', max: 1 };

describe('ClaimGate', () => {
  it('answers a long poll that arrives after stop at once, so the HTTP server can close', async () => {
    let rounds = 0;
    const gate = new ClaimGate(async () => {
      rounds++;
      return [];
    }, logger);
    gate.start();
    gate.stop();
    // Before the mend this waited the whole 25 s (past the test timeout it is given here).
    const rows = await gate.claim(claimer, 25, () => undefined);
    expect(rows).toEqual([]);
    expect(rounds).toBe(0);
  }, 5000);

  it('answers a waiting long poll with nothing when the broker stops', async () => {
    const gate = new ClaimGate(async () => [], logger);
    const waiting = gate.claim(claimer, 25, () => undefined);
    gate.stop();
    await expect(waiting).resolves.toEqual([]);
  }, 5000);
});
