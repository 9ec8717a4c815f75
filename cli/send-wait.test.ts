import { ConfigError } from '../platform/index.js';
import { DEFAULT_QUIET_S, waitSeconds } from './send-wait.js';
import { messageLine } from './output.js';

describe('nexus send --wait[=S]', () => {
  it('waits the default 120 s of quiet for a bare --wait, and S for --wait=S', () => {
    expect(waitSeconds(true)).toBe(DEFAULT_QUIET_S);
    expect(DEFAULT_QUIET_S).toBe(120);
    expect(waitSeconds('30')).toBe(30);
  });

  it('gives back a word commander took as the value of a bare --wait, so it can be the content', () => {
    expect(waitSeconds('What is a Hand?')).toBeNull();
  });

  it('refuses seconds out of range with the rule', () => {
    expect(() => waitSeconds('0')).toThrow(new ConfigError('--wait must be whole seconds from 1 to 86400'));
    expect(() => waitSeconds('86401')).toThrow(ConfigError);
  });

  it('shows Hand messages with their kind and Hand name', () => {
    const base = { id: '5', thread_id: '2', created_at: '' };
    expect(
      messageLine({
        ...base,
        from: 'researcher',
        to: ['writer'],
        kind: 'hand',
        hand: 'summarise',
        content: 'q',
      }),
    ).toBe('[2] researcher → writer (hand summarise): q');
    expect(messageLine({ ...base, from: 'researcher', to: [], kind: 'chat', content: 'a' })).toBe(
      '[2] researcher → (thread): a',
    );
  });
});
