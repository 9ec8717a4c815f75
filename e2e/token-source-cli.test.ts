/**
 * Where a command's token comes from, told through the real CLI (issue 9 item 16): NEXUS_TOKEN, or
 * the file NEXUS_TOKEN_FILE names, or for client commands the `nexus dev` default
 * `./.nexus/admin-token` (B.34). When none is found, the one line says which were looked for and
 * the file's path, never "could not be read: ENOENT" alone.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runNexus, startWorkerProcess, writeHome } from '../testing/index.js';

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

  it('nexus worker with NEXUS_TOKEN_FILE naming a missing file waits, alive, and starts once the file is written', async () => {
    // Under the chart the workers' token Secret is written by the post-install hook, which
    // `helm install --wait`, Flux and Argo CD run only after the Deployment is available: /readyz
    // says it waits, with 200, or the hook would never run.
    const file = path.join(dir, 'worker-token');
    const worker = startWorkerProcess({ url, token: '', env: { NEXUS_TOKEN_FILE: file } });
    try {
      const base = (await worker.metricsUrl()).replace(/\/metrics$/, '');
      await worker.waitForLog('waiting for the token file to exist and be non-empty');
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const readyz = await fetch(`${base}/readyz`);
      expect({ status: readyz.status, body: await readyz.json() }).toEqual({
        status: 200,
        body: {
          status: 'ready',
          reason: `waiting for the token file: neither NEXUS_TOKEN nor the token file NEXUS_TOKEN_FILE=${file} was found`,
        },
      });
      // An empty file (a Secret mounted before its value is written) is waited for too.
      await writeFile(file, '');
      await writeFile(file, 'nxw_arrived');
      await worker.waitForLog('token file found; starting');
      // It went on to claim from the broker: nothing listens at the URL, so the claim fails.
      await worker.waitForLog('claim failed; backing off');
      expect(worker.child.exitCode).toBeNull();
      expect(worker.logs().match(/waiting for the token file to exist/g)).toHaveLength(1);
      expect(worker.logs()).not.toContain('nxw_arrived');
    } finally {
      expect(await worker.stop()).toBe(0);
      await rm(file, { force: true });
    }
  });

  it('nexus worker with NEXUS_TOKEN_FILE naming a file it cannot read exits 2 with one line', async () => {
    const { code, output } = await runNexus(['worker', '--metrics-port', '0'], {
      NEXUS_URL: url,
      NEXUS_TOKEN_FILE: dir,
    });
    expect(code).toBe(2);
    expect(lastLine(output)).toBe(
      `nexus: worker: the token file NEXUS_TOKEN_FILE=${dir} could not be read (EISDIR)`,
    );
  });

  it('nexus worker with neither NEXUS_TOKEN nor NEXUS_TOKEN_FILE exits 2 with one line', async () => {
    const { code, output } = await runNexus(['worker', '--metrics-port', '0'], { NEXUS_URL: url });
    expect(code).toBe(2);
    expect(lastLine(output)).toBe('nexus: worker: neither NEXUS_TOKEN nor NEXUS_TOKEN_FILE is set');
  });
});
