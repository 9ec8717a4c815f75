/**
 * Where a command's token comes from, told through the real CLI (issue 9 item 16): NEXUS_TOKEN, or
 * the file NEXUS_TOKEN_FILE names, or for client commands the `nexus dev` default
 * `./.nexus/admin-token` (B.34). When none is found, the one line says which were looked for and
 * the file's path, never "could not be read: ENOENT" alone.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runNexus, writeHome } from '../testing/index.js';

describe('a command without a token says where it looked', () => {
  let dir: string;
  // Nothing listens here: a command that got past the token would fail on the connection instead.
  const url = 'http://127.0.0.1:9';

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'nexus-token-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const lastLine = (output: string) => output.trim().split('\n').at(-1);

  it('a client command with neither NEXUS_TOKEN nor ./.nexus/admin-token names both and the path', async () => {
    const { code, output } = await runNexus(['roster'], { NEXUS_URL: url }, { cwd: dir });
    expect(code).toBe(2);
    expect(lastLine(output)).toBe(
      `nexus: roster: neither NEXUS_TOKEN nor the token file ${path.join(dir, '.nexus', 'admin-token')} (the nexus dev default) was found`,
    );
    expect(output).not.toContain('ENOENT');
  });

  it('a client command with NEXUS_TOKEN_FILE naming a missing file names that file', async () => {
    const file = path.join(dir, 'missing-token');
    const { code, output } = await runNexus(['roster'], { NEXUS_URL: url, NEXUS_TOKEN_FILE: file });
    expect(code).toBe(2);
    expect(lastLine(output)).toBe(
      `nexus: roster: neither NEXUS_TOKEN nor the token file NEXUS_TOKEN_FILE=${file} was found`,
    );
  });

  it('a client command reads the nexus dev default token file when nothing is set', async () => {
    const cwd = await mkdtemp(path.join(dir, 'dev-'));
    await mkdir(path.join(cwd, '.nexus'));
    await writeFile(path.join(cwd, '.nexus', 'admin-token'), 'nxo_' + 'a'.repeat(43) + '\n');
    const { code, output } = await runNexus(['roster'], { NEXUS_URL: url }, { cwd });
    // Past the token: the failure is the unreachable broker, not a missing token.
    expect(code).not.toBe(0);
    expect(output).not.toContain('NEXUS_TOKEN');
  });

  it('a missing NEXUS_TOKEN_FILE is not silently replaced by NEXUS_TOKEN: the file wins, and the line says so', async () => {
    const file = path.join(dir, 'absent-token');
    const { code, output } = await runNexus(['roster'], {
      NEXUS_URL: url,
      NEXUS_TOKEN_FILE: file,
      NEXUS_TOKEN: 'nxo_' + 'b'.repeat(43),
    });
    expect(code).toBe(2);
    expect(lastLine(output)).toBe(
      `nexus: roster: the token file NEXUS_TOKEN_FILE=${file} was not found (it wins over NEXUS_TOKEN)`,
    );
  });

  it('an empty token file is named as empty', async () => {
    const file = path.join(dir, 'empty-token');
    await writeFile(file, '\n');
    const { code, output } = await runNexus(['roster'], { NEXUS_URL: url, NEXUS_TOKEN_FILE: file });
    expect(code).toBe(2);
    expect(lastLine(output)).toBe(`nexus: roster: the token file NEXUS_TOKEN_FILE=${file} is empty`);
  });

  it('nexus agent with neither NEXUS_TOKEN nor NEXUS_TOKEN_FILE says so, and does not look for the dev file', async () => {
    const home = await writeHome({ 'aspect.json': { name: 'lone', provider: { kind: 'scripted' } } });
    const { code, output } = await runNexus(['agent', home, '--metrics-port', '0'], { NEXUS_URL: url });
    expect(code).toBe(2);
    expect(lastLine(output)).toBe('nexus: agent: neither NEXUS_TOKEN nor NEXUS_TOKEN_FILE is set');
  });

  it('nexus worker with a missing NEXUS_TOKEN_FILE names the file', async () => {
    const file = path.join(dir, 'worker-token');
    const { code, output } = await runNexus(['worker', '--metrics-port', '0'], {
      NEXUS_URL: url,
      NEXUS_TOKEN_FILE: file,
    });
    expect(code).toBe(2);
    expect(lastLine(output)).toBe(
      `nexus: worker: neither NEXUS_TOKEN nor the token file NEXUS_TOKEN_FILE=${file} was found`,
    );
  });
});
