import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../platform/index.js';
import { copyConfig } from './agent-command.js';

describe('nexus agent --config-from DIR (B.31)', () => {
  let work: string;
  beforeEach(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'nexus-config-from-'));
  });
  afterEach(() => rm(work, { recursive: true, force: true }));

  it("mirrors DIR's configuration files into the home: one deleted or renamed in DIR goes from the home too", async () => {
    const from = path.join(work, 'agents', 'writer');
    const home = path.join(work, 'homes', 'writer');
    await mkdir(from, { recursive: true });
    await writeFile(path.join(from, 'aspect.json'), '{"name":"writer"}');
    await writeFile(path.join(from, 'AGENT.md'), 'old instructions');
    await writeFile(path.join(from, 'PRIMER.md'), 'a primer');
    await copyConfig(from, home);
    expect((await readdir(home)).sort()).toEqual(['AGENT.md', 'PRIMER.md', 'aspect.json']);

    // The home has its runtime's own files by now; those are never touched.
    await mkdir(path.join(home, 'session', 'threads'), { recursive: true });
    await writeFile(path.join(home, 'session', 'threads', '7.jsonl'), '{}\n');
    await writeFile(path.join(home, 'state.json'), '{"last":"7"}');
    await writeFile(path.join(home, 'notes.txt'), 'not a configuration file');

    await rm(path.join(from, 'PRIMER.md'));
    await rm(path.join(from, 'AGENT.md'));
    await writeFile(path.join(from, 'CLAUDE.md'), 'new instructions');
    await copyConfig(from, home);
    expect((await readdir(home)).sort()).toEqual([
      'CLAUDE.md',
      'aspect.json',
      'notes.txt',
      'session',
      'state.json',
    ]);
    expect(await readFile(path.join(home, 'CLAUDE.md'), 'utf8')).toBe('new instructions');
    expect(await readFile(path.join(home, 'state.json'), 'utf8')).toBe('{"last":"7"}');
    expect(await readdir(path.join(home, 'session', 'threads'))).toEqual(['7.jsonl']);
  });

  it('refuses a DIR that is not there and leaves the home as it was', async () => {
    const home = path.join(work, 'home');
    await mkdir(home);
    await writeFile(path.join(home, 'aspect.json'), '{}');
    const missing = path.join(work, 'agents', 'nosuch');
    await expect(copyConfig(missing, home)).rejects.toThrow(
      new ConfigError(`--config-from ${missing}: no such folder`),
    );
    expect(await readdir(home)).toEqual(['aspect.json']);
  });
});
