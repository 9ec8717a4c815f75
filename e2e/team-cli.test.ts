/**
 * `nexus alarm add/ls/rm` and `nexus audit` against a broker process (B.91, issue 10 test 6 for
 * these commands): what they print, `--json`, and bad input ending in one line and a non-zero exit.
 */
import { spawn } from 'node:child_process';
import type { Alarm, AlarmReply, AuditEntry } from '../protocol/index.js';
import {
  NEXUS_BIN,
  adminClient,
  createTestDatabase,
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

describe('nexus alarm and nexus audit against a broker process', () => {
  let db: TestDatabase;
  let broker: BrokerProcess;
  const bootstrap = newAdminTokenValue();

  beforeAll(async () => {
    db = await createTestDatabase('team_cli');
    broker = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap });
  }, 60_000);
  afterAll(async () => {
    await broker?.stop();
    await db?.drop();
  });

  const nexus = (args: string[]): Promise<CliResult> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [NEXUS_BIN, ...args], {
        env: { PATH: process.env.PATH ?? '', NEXUS_URL: broker.url, NEXUS_TOKEN: bootstrap },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });

  const jsonOf = <T>(result: CliResult): T => {
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    return JSON.parse(result.stdout) as T;
  };

  /** Bad input: nothing on stdout, exactly one line on stderr that contains `says`, a non-zero exit. */
  const expectOneLineRefusal = (result: CliResult, says: string) => {
    expect(result.stdout).toBe('');
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(says);
    expect(result.code).not.toBe(0);
  };

  it(
    'adds, lists and removes alarms, as text and as JSON',
    async () => {
      const added = await nexus([
        'alarm',
        'add',
        '--to',
        'planner,op:bootstrap',
        '--every',
        '600',
        'check the queue',
      ]);
      expect(added.code).toBe(0);
      expect(added.stdout).toMatch(/^alarm \d+, next at \d{4}-\d\d-\d\dT[\d:.]+Z\n$/);

      const later = jsonOf<AlarmReply>(
        await nexus(['alarm', 'add', '--to', 'planner', '--at', '+2h', '--json', 'later']),
      );
      expect(Date.parse(later.next_at) - Date.now()).toBeGreaterThan(7_000_000);

      const listed = await nexus(['alarm', 'ls']);
      expect(listed.code).toBe(0);
      const lines = listed.stdout.trimEnd().split('\n');
      expect(lines[0]).toBe('ID\tNEXT_AT\tEVERY_S\tFIRED\tOWNER\tTO\tCONTENT');
      expect(lines.slice(1).map((l) => l.split('\t').slice(2))).toEqual([
        ['600', '0', 'op:bootstrap', 'planner,op:bootstrap', 'check the queue'],
        ['-', '0', 'op:bootstrap', 'planner', 'later'],
      ]);
      const { alarms } = jsonOf<{ alarms: Alarm[] }>(await nexus(['alarm', 'ls', '--json']));
      expect(alarms.map((a) => a.id)).toContain(later.id);

      const removed = await nexus(['alarm', 'rm', later.id]);
      expect(removed).toEqual({ code: 0, stdout: `removed alarm ${later.id}\n`, stderr: '' });
      expectOneLineRefusal(
        await nexus(['alarm', 'rm', later.id]),
        `not_found: alarm ${later.id} does not exist`,
      );
    },
    SPAWNING_TEST_MS,
  );

  it(
    'reads the audit log with filters, as text and as JSON',
    async () => {
      const admin = adminClient(broker.url, bootstrap);
      const minted = await admin.post<{ id: string }>('/v1/admin/tokens', { kind: 'worker', name: 'pool' });
      await admin.delete(`/v1/admin/tokens/${minted.id}`);

      const text = await nexus(['audit', '--action', 'token.revoke']);
      expect(text.code).toBe(0);
      const lines = text.stdout.trimEnd().split('\n');
      expect(lines[0]).toBe('ID\tAT\tACTOR\tACTION\tTARGET\tOUTCOME');
      expect(lines.slice(1).map((l) => l.split('\t').slice(2))).toEqual([
        ['op:bootstrap', 'token.revoke', minted.id, 'allowed'],
      ]);

      const { entries } = jsonOf<{ entries: AuditEntry[] }>(
        await nexus(['audit', '--actor', 'op:bootstrap', '--limit', '1', '--json']),
      );
      expect(entries).toHaveLength(1);
      const after = jsonOf<{ entries: AuditEntry[] }>(
        await nexus(['audit', '--actor', 'op:bootstrap', '--after', entries[0]?.id as string, '--json']),
      );
      expect(after.entries.every((e) => BigInt(e.id) > BigInt(entries[0]?.id as string))).toBe(true);
      expect((await nexus(['audit', '--action', 'no.such.action'])).stdout).toBe('no audit entries\n');
    },
    SPAWNING_TEST_MS,
  );

  it(
    'ends bad input with one clear line and a non-zero exit, changing nothing',
    async () => {
      const before = jsonOf<{ alarms: Alarm[] }>(await nexus(['alarm', 'ls', '--json'])).alarms.length;
      const cases: [string[], string][] = [
        [['alarm', 'add', '--every', '60', 'no recipient'], '--to: is required'],
        [['alarm', 'add', '--to', 'planner', 'no time'], 'give --at TIME, --every S or both'],
        [['alarm', 'add', '--to', 'planner', '--every', '5', 'too often'], '--every: must be at least 10'],
        [
          ['alarm', 'add', '--to', 'planner', '--every', 'often', 'x'],
          '--every: must be a whole number of seconds',
        ],
        [['alarm', 'add', '--to', 'planner', '--at', 'tomorrow', 'x'], '--at: must be an ISO-8601 time'],
        [['alarm', 'add', '--to', 'Planner', '--every', '60', 'x'], '--to[0]: must be an aspect name'],
        [
          ['alarm', 'add', '--to', 'planner', '--every', '60', '--thread', 'x', 'x'],
          '--thread: must be a decimal id',
        ],
        [
          ['alarm', 'add', '--to', 'planner', '--every', '60', '--thread', '99999', 'x'],
          'not_found: thread 99999',
        ],
        [['alarm', 'rm', 'abc'], 'ID: must be a decimal id string'],
        [['audit', '--limit', '0'], '--limit: '],
        [['audit', '--after', 'yesterday'], '--after: must be a decimal id string'],
      ];
      for (const [args, says] of cases) expectOneLineRefusal(await nexus(args), says);
      expect(jsonOf<{ alarms: Alarm[] }>(await nexus(['alarm', 'ls', '--json'])).alarms).toHaveLength(before);
    },
    SPAWNING_TEST_MS,
  );

  it(
    'documents every command and option in --help',
    async () => {
      const add = await nexus(['alarm', 'add', '--help']);
      expect(add.code).toBe(0);
      for (const option of ['--to', '--at', '--every', '--thread', '--json'])
        expect(add.stdout).toContain(option);
      for (const sub of ['ls', 'rm'])
        expect((await nexus(['alarm', sub, '--help'])).stdout).toContain('--help');
      const audit = await nexus(['audit', '--help']);
      for (const option of ['--actor', '--action', '--after', '--limit', '--json'])
        expect(audit.stdout).toContain(option);
    },
    SPAWNING_TEST_MS,
  );
});
