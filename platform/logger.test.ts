import { Writable } from 'node:stream';
import { createLogger, scrubSecrets } from './logger.js';

const TOKEN = 'nxa_' + 'A'.repeat(43);

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  return { lines, logger: createLogger({ name: 'test', level: 'debug', destination }) };
}

describe('the logger', () => {
  it('censors secret fields at any depth', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        token: TOKEN,
        req: { headers: { authorization: `Bearer ${TOKEN}` } },
        credential: { value: 'sk-secret' },
      },
      'x',
    );
    expect(lines.join('')).not.toContain(TOKEN);
    expect(lines.join('')).not.toContain('sk-secret');
    expect(lines.join('')).toContain('[REDACTED]');
  });

  it('scrubs token-shaped strings from messages and errors', () => {
    const { lines, logger } = capture();
    logger.warn({ err: new Error(`bad token ${TOKEN}`) }, `saw ${TOKEN}`);
    expect(lines.join('')).not.toContain(TOKEN);
  });

  it('scrubSecrets replaces tokens and bearer values inside free text', () => {
    expect(scrubSecrets(`Authorization: Bearer abc.def and ${TOKEN}`)).toBe(
      'Authorization: Bearer [REDACTED] and [REDACTED]',
    );
  });
});
