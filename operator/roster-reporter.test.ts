import { expectedRoster } from './roster-reporter.js';
import { aspect } from './test/fixtures.js';

describe('expectedRoster (B.24)', () => {
  it('names the Aspects that should run: not suspended, deleted, or Failed on an invalid spec', () => {
    const aspects = [
      aspect({}, { name: 'wren' }),
      aspect({}, { name: 'wren', namespace: 'other' }), // one broker name for both
      aspect({ suspend: true }, { name: 'sleepy' }),
      aspect({}, { name: 'gone', deletionTimestamp: '2026-01-01T00:00:00Z' }),
      { ...aspect({}, { name: 'broken' }), status: { phase: 'Failed' as const } },
      { ...aspect({}, { name: 'robin' }), status: { phase: 'Running' as const } },
    ];
    expect(expectedRoster(aspects)).toEqual(['robin', 'wren']);
  });
});
