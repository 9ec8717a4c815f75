/** `nexus knowledge add/search/ls/rm` against a broker process (SPEC section 1, B.91). */
import { spawn } from 'node:child_process';
import type { KnowledgeListReply, KnowledgeSearchReply } from '../protocol/index.js';
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

describe('nexus knowledge against a broker process', () => {
  let db: TestDatabase;
  let broker: BrokerProcess;
  const bootstrap = newAdminTokenValue();

  beforeAll(async () => {
    db = await createTestDatabase('knowledge_cli');
    broker = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap });
  });
  afterAll(async () => {
    await broker?.stop();
    await db?.drop();
  });

  /** Runs the built `nexus` with `args` as the holder of `token`, writing `stdin` (then closing it). */
  const nexus = (args: string[], stdin = '', token = bootstrap): Promise<CliResult> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [NEXUS_BIN, ...args], {
        env: { PATH: process.env.PATH ?? '', NEXUS_URL: broker.url, NEXUS_TOKEN: token },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(stdin);
    });

  /** The JSON a successful run printed; a failed run fails the test with what it said. */
  const jsonOf = <T>(result: CliResult): T => {
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    return JSON.parse(result.stdout) as T;
  };

  it(
    'adds from stdin or --content, replaces the same topic, searches, lists and removes',
    async () => {
      const added = await nexus(
        ['knowledge', 'add', 'release train', '--shared'],
        'Leaves Tuesdays at 10.\n',
      );
      expect(added).toMatchObject({
        code: 0,
        stderr: '',
        stdout: expect.stringMatching(/^stored \d+ \(created\)\n$/),
      });
      const id = /stored (\d+)/.exec(added.stdout)?.[1] as string;

      const replaced = jsonOf<{ id: string; created: boolean }>(
        await nexus(['knowledge', 'add', 'release train', '--content', 'Leaves Wednesdays at 10.', '--json']),
      );
      expect(replaced).toEqual({ id, created: false });
      await nexus(['knowledge', 'add', 'lunch', '--content', 'Lunch is at noon.']);

      const found = jsonOf<KnowledgeSearchReply>(
        await nexus(['knowledge', 'search', 'wednesdays', '--json']),
      );
      expect(found.hits).toEqual([
        expect.objectContaining({
          id,
          topic: 'release train',
          content: 'Leaves Wednesdays at 10.',
          shared: true,
        }),
      ]);
      const text = await nexus(['knowledge', 'search', 'wednesdays or noon', '--top-k', '1']);
      expect(text.code).toBe(0);
      const [header, ...lines] = text.stdout.trimEnd().split('\n');
      expect(header).toBe('SCORE\tFROM\tTOPIC\tCONTENT');
      expect(lines).toHaveLength(1);
      expect(await nexus(['knowledge', 'search', 'nothing-like-this'])).toMatchObject({
        code: 0,
        stdout: 'no hits\n',
      });

      // An aspect sees the shared entry, not the operator's private one, and stores under its own name.
      const { token } = await mintAspectToken(adminClient(broker.url, bootstrap), 'scout');
      const seen = jsonOf<KnowledgeListReply>(await nexus(['knowledge', 'ls', '--json'], '', token));
      expect(seen.entries.map((e) => e.topic)).toEqual(['release train']);
      await nexus(['knowledge', 'add', 'trail', '--content', 'The trail is muddy.'], '', token);
      const own = jsonOf<KnowledgeSearchReply>(
        await nexus(['knowledge', 'search', 'muddy or wednesdays', '--scope', 'own', '--json'], '', token),
      );
      expect(own.hits.map((h) => [h.from_agent, h.topic])).toEqual([['scout', 'trail']]);

      const listed = await nexus(['knowledge', 'ls', '--from', 'scout']);
      expect(listed.stdout.split('\n')[0]).toBe('ID\tFROM\tSHARED\tUPDATED\tTOPIC');
      expect(listed.stdout).toContain('\tscout\tno\t');

      expect(await nexus(['knowledge', 'rm', id])).toMatchObject({ code: 0, stdout: `removed ${id}\n` });
      const after = jsonOf<KnowledgeListReply>(await nexus(['knowledge', 'ls', '--json']));
      expect(after.entries.map((e) => e.topic)).toEqual(['lunch', 'trail']);
    },
    SPAWNING_TEST_MS,
  );

  it(
    'refuses bad input with one line naming what is wrong, a non-zero exit, and nothing stored',
    async () => {
      const before = jsonOf<KnowledgeListReply>(await nexus(['knowledge', 'ls', '--json'])).entries;
      const cases: [string[], string, string][] = [
        [
          ['knowledge', 'add', 'x'.repeat(257), '--content', 'c'],
          '',
          'topic: must be at most 256 characters',
        ],
        [['knowledge', 'add', 'empty'], '', 'content: is empty'],
        [['knowledge', 'add', 'blank', '--content', '   '], '', 'content: is empty'],
        [['knowledge', 'search', 'a', '--top-k', '51'], '', 'top_k: Too big'],
        [['knowledge', 'search', 'a', '--scope', 'mine'], '', 'scope: must be a comma-separated list'],
        [['knowledge', 'ls', '--from', 'Not A Name'], '', 'from_agent: '],
        [['knowledge', 'rm', 'abc'], '', 'id: must be a decimal id string'],
        [['knowledge', 'rm', '987654321'], '', 'not_found: knowledge entry 987654321 does not exist'],
      ];
      for (const [args, stdin, message] of cases) {
        const result = await nexus(args, stdin);
        expect({ args: args.join(' ').slice(0, 60), code: result.code }).toEqual({
          args: args.join(' ').slice(0, 60),
          code: 2,
        });
        expect(result.stdout).toBe('');
        expect(result.stderr.trim().split('\n')).toHaveLength(1);
        expect(result.stderr).toContain(message);
      }
      const notANumber = await nexus(['knowledge', 'search', 'a', '--top-k', 'x']);
      expect(notANumber.code).toBe(2);
      // One line naming the option, never the value typed (ADR 0009).
      expect(notANumber.stderr).toBe(
        'nexus: knowledge search: --top-k: must be a positive integer (see nexus knowledge search --help)\n',
      );
      expect(jsonOf<KnowledgeListReply>(await nexus(['knowledge', 'ls', '--json'])).entries).toEqual(before);
    },
    SPAWNING_TEST_MS,
  );

  it(
    'documents every subcommand with --help',
    async () => {
      for (const sub of ['add', 'search', 'ls', 'rm']) {
        const help = await nexus(['knowledge', sub, '--help']);
        expect(help.code).toBe(0);
        expect(help.stdout).toContain(`Usage: nexus knowledge ${sub}`);
        expect(help.stdout).toContain('--json');
        expect(help.stdout).toContain('NEXUS_URL');
      }
    },
    SPAWNING_TEST_MS,
  );
});
