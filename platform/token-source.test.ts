import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from './config.js';
import { tokenSourceFromEnv } from './token-source.js';

describe('the token source', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'token-source-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads NEXUS_TOKEN and describes it', () => {
    const source = tokenSourceFromEnv({ NEXUS_TOKEN: 'nxa_value' });
    expect(source.read()).toBe('nxa_value');
    expect(source).toMatchObject({ description: 'NEXUS_TOKEN', fromFile: false });
  });

  it('reads NEXUS_TOKEN_FILE again on every call, trimmed, so a rotated file is picked up', async () => {
    const file = path.join(dir, 'token');
    await writeFile(file, 'nxa_first\n');
    const source = tokenSourceFromEnv({ NEXUS_TOKEN_FILE: file, NEXUS_TOKEN: 'nxa_env' });
    expect(source.read()).toBe('nxa_first');
    await writeFile(file, 'nxa_second');
    expect(source.read()).toBe('nxa_second');
    expect(source).toMatchObject({ description: `NEXUS_TOKEN_FILE=${file}`, fromFile: true });
  });

  it('says what was looked for when nothing is set, and never guesses a file for a runtime', () => {
    expect(() => tokenSourceFromEnv({}).read()).toThrow(
      new ConfigError('neither NEXUS_TOKEN nor NEXUS_TOKEN_FILE is set'),
    );
  });

  it('names a file it cannot read by its error code, and a file that holds nothing as empty', async () => {
    const empty = path.join(dir, 'empty');
    await writeFile(empty, '  \n');
    expect(() => tokenSourceFromEnv({ NEXUS_TOKEN_FILE: empty }).read()).toThrow(
      `the token file NEXUS_TOKEN_FILE=${empty} is empty`,
    );
    expect(() => tokenSourceFromEnv({ NEXUS_TOKEN_FILE: dir }).read()).toThrow(
      `the token file NEXUS_TOKEN_FILE=${dir} could not be read (EISDIR)`,
    );
  });
});
