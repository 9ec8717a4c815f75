import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BrokerClient } from '../client/index.js';
import type { CredentialListReply } from '../protocol/index.js';
import {
  NEXUS_BIN,
  adminClient,
  createTestDatabase,
  mintAspectToken,
  newAdminTokenValue,
  startBrokerProcess,
  type BrokerProcess,
  type TestDatabase,
} from '../testing/index.js';

/** Each test spawns several CLI processes; on a loaded machine one spawn can take seconds. */
const SPAWNING_TEST_MS = 180_000;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('nexus cred against a broker process', () => {
  let db: TestDatabase;
  let broker: BrokerProcess;
  const bootstrap = newAdminTokenValue();
  const value = `canary-${randomBytes(24).toString('base64url')}`;
  /** Everything every CLI run printed, checked for the value at the end. */
  const printed: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('credentials_cli');
    broker = await startBrokerProcess({
      databaseUrl: db.url,
      bootstrapToken: bootstrap,
      migrate: true,
      env: { NEXUS_SECRET_KEY: randomBytes(32).toString('base64'), LOG_LEVEL: 'debug' },
    });
  });
  afterAll(async () => {
    await broker?.stop();
    await db?.drop();
  });

  /** Runs the built `nexus` with `args`, writing `stdin` (then closing it). */
  const nexus = (args: string[], stdin = ''): Promise<CliResult> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [NEXUS_BIN, ...args], {
        env: { PATH: process.env.PATH ?? '', NEXUS_URL: broker.url, NEXUS_TOKEN: bootstrap },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('error', reject);
      child.once('close', (code) => {
        printed.push(stdout, stderr);
        resolve({ code, stdout, stderr });
      });
      child.stdin.end(stdin);
    });

  /** The JSON a successful run printed; a failed run fails the test with what it said. */
  const jsonOf = <T>(result: CliResult): T => {
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    return JSON.parse(result.stdout) as T;
  };

  it(
    'stores a value piped on stdin, lists it, and lets a granted aspect fetch exactly that value',
    async () => {
      const set = await nexus(
        ['cred', 'set', 'anthropic', '--kind', 'api_key', '--description', 'team key'],
        `${value}\n`,
      );
      expect(set).toMatchObject({ code: 0, stdout: 'stored anthropic (created)\n', stderr: '' });

      const reply = jsonOf<CredentialListReply>(await nexus(['cred', 'ls', '--json']));
      expect(reply.credentials).toEqual([
        expect.objectContaining({ name: 'anthropic', kind: 'api_key', description: 'team key', grants: [] }),
      ]);

      expect(await nexus(['cred', 'grant', 'anthropic', 'wren'])).toMatchObject({
        code: 0,
        stdout: 'granted anthropic to wren\n',
      });
      expect(await nexus(['cred', 'ls'])).toEqual({
        code: 0,
        stdout: 'NAME\tKIND\tGRANTS\tDESCRIPTION\nanthropic\tapi_key\twren\tteam key\n',
        stderr: '',
      });

      const { token } = await mintAspectToken(adminClient(broker.url, bootstrap), 'wren');
      const wren = new BrokerClient({ url: broker.url, token });
      // The trailing newline from the pipe is not part of the value.
      expect(await wren.post('/v1/credentials/anthropic/fetch', {})).toEqual({
        name: 'anthropic',
        kind: 'api_key',
        value,
      });

      const replaced = await nexus(['cred', 'set', 'anthropic', '--kind', 'api_key'], value);
      expect(replaced).toMatchObject({ code: 0, stdout: 'stored anthropic (replaced)\n' });

      // A mounted Secret, as the chart's post-install hook gives it (B.69): no shell, no stdin.
      const dir = await mkdtemp(path.join(tmpdir(), 'cred-file-'));
      const file = path.join(dir, 'ANTHROPIC_API_KEY');
      await writeFile(file, `${value}\n`);
      const fromFile = await nexus(['cred', 'set', 'anthropic', '--kind', 'api_key', '--value-file', file]);
      expect(fromFile).toMatchObject({ code: 0, stdout: 'stored anthropic (replaced)\n' });
      expect(await wren.post('/v1/credentials/anthropic/fetch', {})).toMatchObject({ value });
      const missing = await nexus(['cred', 'set', 'anthropic', '--value-file', path.join(dir, 'none')]);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain(`--value-file ${path.join(dir, 'none')} could not be read: ENOENT`);
      await rm(dir, { recursive: true, force: true });
    },
    SPAWNING_TEST_MS,
  );

  it(
    'refuses an empty value and a value given as an argument with one line, storing nothing',
    async () => {
      const empty = await nexus(['cred', 'set', 'empty'], '');
      expect(empty.code).not.toBe(0);
      expect(empty.stdout).toBe('');
      expect(empty.stderr.trim().split('\n')).toHaveLength(1);
      expect(empty.stderr).toContain('the value read from stdin is empty');

      const onArgv = await nexus(['cred', 'set', 'on-argv', value]);
      expect(onArgv.code).not.toBe(0);
      expect(onArgv.stderr).toContain('too many arguments');
      expect(onArgv.stdout + onArgv.stderr).not.toContain(value);

      const listed = jsonOf<CredentialListReply>(await nexus(['cred', 'ls', '--json']));
      expect(listed.credentials.map((c) => c.name)).toEqual(['anthropic']);
    },
    SPAWNING_TEST_MS,
  );

  it(
    'revokes and removes, and the value appears in no CLI output and no broker log line',
    async () => {
      expect(await nexus(['cred', 'revoke', 'anthropic', 'wren'])).toMatchObject({
        stderr: '',
        code: 0,
        stdout: 'revoked anthropic from wren\n',
      });
      expect(await nexus(['cred', 'rm', 'anthropic'])).toMatchObject({
        code: 0,
        stdout: 'removed anthropic\n',
      });
      expect(await nexus(['cred', 'ls'])).toEqual({ code: 0, stdout: 'no credentials\n', stderr: '' });
      expect(await nexus(['cred', 'rm', 'anthropic'])).toMatchObject({ code: 2 });

      expect(printed.join('')).not.toContain(value);
      expect(broker.logs()).toContain('listening on');
      expect(broker.logs()).not.toContain(value);
    },
    SPAWNING_TEST_MS,
  );
});
