/**
 * The client commands through the built CLI against a broker process: `roster`, `send`, `tail` and
 * `token`, in text and `--json`, and `agent --config-from` (B.31).
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BrokerClient } from '../client/index.js';
import type { Message, WireError } from '../protocol/index.js';
import {
  adminClient,
  createTestDatabase,
  mintAspectToken,
  newAdminTokenValue,
  registerBody,
  runNexus,
  startBrokerProcess,
  startNexusProcess,
  waitUntil,
  writeHome,
  type BrokerProcess,
  type NexusProcess,
  type NexusRun,
  type TestDatabase,
} from '../testing/index.js';

/** Each test spawns several CLI processes; on a loaded machine one spawn can take seconds. */
const SPAWNING_TEST_MS = 180_000;

/** The exit code, or 'still running' if the process has not exited within `ms`. */
async function exitWithin(process: NexusProcess, ms: number): Promise<number | null | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'still running'>((resolve) => {
    timer = setTimeout(() => resolve('still running'), ms);
  });
  try {
    return await Promise.race([process.exited(), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

interface TokenRow {
  id: string;
  kind: string;
  aspect?: string;
  name?: string;
  revoked_at?: string;
}

describe('nexus client commands against a broker process', () => {
  let db: TestDatabase;
  let broker: BrokerProcess;
  const bootstrap = newAdminTokenValue();
  const started: NexusProcess[] = [];
  const nexus = (args: string[], token = bootstrap): Promise<NexusRun> =>
    runNexus(args, { NEXUS_URL: broker.url, NEXUS_TOKEN: token });
  /** The stdout of a run that must succeed; a failure shows what it printed. */
  const stdoutOf = (run: NexusRun): string => {
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    return run.stdout;
  };
  /** Starts `nexus tail` and waits until it says it is following (its subscription is in place). */
  const startTail = async (args: string[] = []): Promise<NexusProcess> => {
    const tail = startNexusProcess(['tail', ...args], { url: broker.url, token: bootstrap });
    started.push(tail);
    await tail.waitForLog('following every thread', 30_000);
    return tail;
  };

  beforeAll(async () => {
    db = await createTestDatabase('cli_client');
    broker = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap });
  });
  afterAll(async () => {
    await Promise.all(started.map((p) => p.stop()));
    await broker?.stop();
    await db?.drop();
  });

  it(
    'mints, lists and revokes tokens, lists the roster and sends, in text and --json',
    async () => {
      expect(stdoutOf(await nexus(['roster']))).toBe('no aspects registered\n');

      // A token minted by the CLI works: the aspect registers with it.
      const minted = stdoutOf(await nexus(['token', 'mint', 'aspect', '--aspect', 'scout']));
      expect(minted).toMatch(/^nxa_\S+\n$/);
      const scout = new BrokerClient({ url: broker.url, token: minted.trim() });
      await scout.post('/v1/aspects/register', registerBody('scout', randomUUID()));
      const mintedJson = JSON.parse(
        stdoutOf(await nexus(['token', 'mint', 'worker', '--name', 'pool', '--json'])),
      ) as { id: string; token: string };
      expect(mintedJson).toMatchObject({
        id: expect.stringMatching(/^\d+$/),
        token: expect.stringMatching(/^nxw_/),
      });

      const roster = stdoutOf(await nexus(['roster']));
      expect(roster.split('\n')[0]).toBe('NAME\tSTATUS\tROLE\tCONTEXT');
      expect(roster).toMatch(/^scout\tlive\taspect\tglobal$/m);
      const rosterJson = JSON.parse(stdoutOf(await nexus(['roster', '--json']))) as {
        aspects: { name: string }[];
      };
      expect(rosterJson.aspects.map((a) => a.name)).toEqual(['scout']);

      const listed = stdoutOf(await nexus(['token', 'ls']));
      expect(listed.split('\n')[0]).toBe('ID\tKIND\tHOLDER\tSTATE');
      expect(listed).toMatch(new RegExp(`^${mintedJson.id}\tworker\tpool\tlive$`, 'm'));
      const scoutOnly = JSON.parse(stdoutOf(await nexus(['token', 'ls', '--aspect', 'scout', '--json']))) as {
        tokens: TokenRow[];
      };
      expect(scoutOnly.tokens).toEqual([expect.objectContaining({ kind: 'aspect', aspect: 'scout' })]);
      // Values are printed once, at mint, never by ls.
      expect(JSON.stringify(scoutOnly)).not.toContain(minted.trim());

      const scoutTokenId = scoutOnly.tokens[0]?.id as string;
      expect(stdoutOf(await nexus(['token', 'revoke', scoutTokenId]))).toBe(`revoked ${scoutTokenId}\n`);
      const afterRevoke = JSON.parse(stdoutOf(await nexus(['token', 'ls', '--json']))) as {
        tokens: TokenRow[];
      };
      expect(afterRevoke.tokens.find((t) => t.id === scoutTokenId)?.revoked_at).toBeDefined();
      expect(await nexus(['token', 'ls'])).toMatchObject({
        stdout: expect.stringMatching(new RegExp(`^${scoutTokenId}\taspect\tscout\trevoked$`, 'm')),
      });
      const refused = await scout.get('/v1/aspects').then(
        () => null,
        (e: unknown) => e as WireError,
      );
      expect(refused?.status).toBe(401);

      const sent = stdoutOf(await nexus(['send', 'hello scout', '--to', 'scout']));
      // Held for scout once its registration goes stale (it has no socket): either is right here.
      const [, id, thread] =
        /^sent (\d+) in thread (\d+)(?: \(held for scout \((?:stale|down)\)\))?\n$/.exec(sent) ?? [];
      expect(id).toBeDefined();
      const sentJson = JSON.parse(
        stdoutOf(await nexus(['send', 'and again', '--thread', thread as string, '--json'])),
      ) as { id: string; thread_id: string };
      expect(sentJson).toMatchObject({ id: expect.stringMatching(/^\d+$/), thread_id: thread });
      const { messages } = await adminClient(broker.url, bootstrap).get<{ messages: Message[] }>(
        `/v1/messages?thread_id=${thread as string}`,
      );
      expect(messages.map((m) => [m.id, m.from, m.to, m.content])).toEqual([
        [id, 'op:bootstrap', ['scout'], 'hello scout'],
        [sentJson.id, 'op:bootstrap', [], 'and again'],
      ]);

      expect(stdoutOf(await nexus(['send', 'anyone there?', '--to', 'nobody']))).toMatch(
        /^sent \d+ in thread \d+ \(held for nobody \(never registered\)\)\n$/,
      );
      // --json with --wait: every line one JSON object, the reply first (JSON Lines).
      // No reply comes: exit 1 with that said on stderr, and stdout still parses line by line.
      const waited = await nexus(['send', 'still there?', '--to', 'nobody', '--wait=1', '--json']);
      expect(waited.code).toBe(1);
      expect(waited.stderr).toContain('no reply in thread');
      const lines = waited.stdout.trim().split('\n');
      expect(lines.map((line) => Object.keys(JSON.parse(line) as object).sort())).toEqual([
        ['created_at', 'held_for', 'id', 'thread_id'],
      ]);

      // The broker's refusal is one line on stderr, and a non-zero exit.
      const unknownThread = await nexus(['send', 'x', '--thread', '999999']);
      expect(unknownThread.code).not.toBe(0);
      expect(unknownThread.stdout).toBe('');
      expect(unknownThread.stderr).toMatch(/^nexus: send: not_found: [^\n]+\n$/);
    },
    SPAWNING_TEST_MS,
  );

  it(
    'token revoke --name revokes every live token with exactly that name, and finds none the second time',
    async () => {
      const admin = adminClient(broker.url, bootstrap);
      const mint = (body: Record<string, unknown>) =>
        admin.post<{ id: string; token: string }>('/v1/admin/tokens', body);
      const pool = [
        await mint({ kind: 'worker', name: 'pool-x' }),
        await mint({ kind: 'worker', name: 'pool-x' }),
      ];
      const earlier = await mint({ kind: 'worker', name: 'pool-x' });
      await admin.delete(`/v1/admin/tokens/${earlier.id}`);
      const others = [
        await mint({ kind: 'worker', name: 'pool-x2' }), // a longer name is another name
        await mint({ kind: 'admin', name: 'pool' }),
      ];

      // Only the live ones are revoked (the earlier one stays as it was), in id order.
      const revoked = stdoutOf(await nexus(['token', 'revoke', '--name', 'pool-x']));
      expect(revoked).toBe(pool.map((t) => `revoked ${t.id}\n`).join(''));
      for (const t of pool)
        await expect(
          new BrokerClient({ url: broker.url, token: t.token }).get('/v1/aspects'),
        ).rejects.toMatchObject({
          status: 401,
        });
      for (const t of others)
        await expect(
          new BrokerClient({ url: broker.url, token: t.token }).get('/v1/aspects'),
        ).resolves.toBeDefined();
      const listed = JSON.parse(stdoutOf(await nexus(['token', 'ls', '--json']))) as { tokens: TokenRow[] };
      expect(listed.tokens.filter((t) => t.name === 'pool-x').every((t) => t.revoked_at)).toBe(true);

      // Again (as a retried hook would): nothing live by that name is no error.
      expect(stdoutOf(await nexus(['token', 'revoke', '--name', 'pool-x']))).toBe(
        'no live token named pool-x\n',
      );

      // A bad name is refused before anything is sent: one line, exit 2.
      const tooLong = await nexus(['token', 'revoke', '--name', 'p'.repeat(254)]);
      expect(tooLong).toMatchObject({
        code: 2,
        stdout: '',
        stderr:
          'nexus: token revoke: --name: must be at most 253 characters (see nexus token revoke --help)\n',
      });
    },
    SPAWNING_TEST_MS,
  );

  it(
    'tail prints every message once, in text and as JSON lines',
    async () => {
      const [text, json] = await Promise.all([startTail(), startTail(['--json'])]);
      const ids: string[] = [];
      for (const content of ['one', 'two', 'three']) {
        const run = await nexus(['send', `tail ${content}`, '--to', 'lookout', '--json']);
        ids.push((JSON.parse(stdoutOf(run)) as { id: string }).id);
      }
      const printedJson = () =>
        json
          .stdout()
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as Message);
      await waitUntil(() => printedJson().some((m) => m.id === ids.at(-1)), {
        timeoutMs: 20_000,
        what: 'the last message in the JSON tail',
      });
      await waitUntil(() => text.stdout().includes('tail three'), {
        timeoutMs: 20_000,
        what: 'the last message in the text tail',
      });
      // Each message is shown as it is persisted and once more when the replica hears its own NOTIFY
      // hint, unless the hint path knows it was shown: a later message, sent through the hint path
      // only (the admin's own socket is not where it was sent), proves the earlier hints were heard.
      const other = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap });
      try {
        await runNexus(['send', 'tail sentinel', '--to', 'lookout'], {
          NEXUS_URL: other.url,
          NEXUS_TOKEN: bootstrap,
        });
        await waitUntil(() => printedJson().some((m) => m.content === 'tail sentinel'), {
          timeoutMs: 20_000,
          what: 'the sentinel in the JSON tail',
        });
        await waitUntil(() => text.stdout().includes('tail sentinel'), {
          timeoutMs: 20_000,
          what: 'the sentinel in the text tail',
        });
      } finally {
        await other.stop();
      }
      const shown = printedJson().filter((m) => ids.includes(m.id));
      expect(shown.map((m) => m.id)).toEqual(ids);
      expect(shown.map((m) => m.content)).toEqual(['tail one', 'tail two', 'tail three']);
      const lines = text
        .stdout()
        .split('\n')
        .filter((l) => l.includes('tail '));
      expect(lines).toHaveLength(4);
      expect(lines[0]).toMatch(/^\[\d+\] op:bootstrap → lookout: tail one$/);

      // Ctrl-C ends it quietly: exit 0, and stderr holds only the line saying it followed.
      text.child.kill('SIGINT');
      expect(await exitWithin(text, 30_000)).toBe(0);
      expect(text.stderr()).toBe(`following every thread on ${broker.url} (Ctrl-C to stop)\n`);
    },
    SPAWNING_TEST_MS,
  );

  it(
    'tail with a refused token or without the admin scope exits non-zero with one line, never the token',
    async () => {
      const wrong = newAdminTokenValue();
      const refused = startNexusProcess(['tail'], { url: broker.url, token: wrong });
      started.push(refused);
      const { token: aspectToken } = await mintAspectToken(adminClient(broker.url, bootstrap), 'plain');
      const notAdmin = startNexusProcess(['tail'], { url: broker.url, token: aspectToken });
      started.push(notAdmin);
      // Both give up at once; the deadline only keeps a hang from holding the test.
      const exits = await Promise.all([refused, notAdmin].map((p) => exitWithin(p, 30_000)));
      expect(exits).toEqual([expect.any(Number), expect.any(Number)]);
      expect(exits).not.toContain(0);
      expect(refused.stdout()).toBe('');
      expect(refused.stderr()).toMatch(
        new RegExp(
          `^nexus: tail: unauthenticated: the broker at ${broker.url} refused the token \\(401\\)\\n$`,
        ),
      );
      expect(refused.stderr()).not.toContain(wrong);
      expect(notAdmin.stdout()).toBe('');
      expect(notAdmin.stderr()).toMatch(/^nexus: tail: [a-z_]+: [^\n]+ \(tail needs an admin token\)\n$/);
      expect(notAdmin.stderr()).not.toContain(aspectToken);

      // The same token refused over HTTP: one line, exit 2.
      const roster = await nexus(['roster'], wrong);
      expect(roster).toMatchObject({
        code: 2,
        stdout: '',
        stderr: expect.stringMatching(/^nexus: roster: unauthenticated: [^\n]+\n$/),
      });
      expect(roster.stderr).not.toContain(wrong);
    },
    SPAWNING_TEST_MS,
  );

  it(
    'agent --config-from copies aspect.json, identity documents and script.json, never session/ or state.json',
    async () => {
      const admin = adminClient(broker.url, bootstrap);
      const { token } = await mintAspectToken(admin, 'copied');
      // The home as a pod restart finds it: an old configuration, a session and a state.
      const oldNotes = 'notes of the old session\n';
      const oldState = { instance_id: 'the-old-instance', last_processed_id: '0' };
      const home = await writeHome({
        'aspect.json': { name: 'copied', context_mode: 'global', provider: { kind: 'scripted' } },
        'SOUL.md': 'the old soul\n',
        'script.json': [{ reply: 'the old script' }],
        'state.json': oldState,
      });
      await mkdir(path.join(home, 'session'));
      await writeFile(path.join(home, 'session', 'notes.txt'), oldNotes);
      // The mounted configuration, which carries a session and a state that must not be copied: with
      // that state the runtime would skip every message up to id 999999.
      const config = await writeHome({
        'aspect.json': {
          name: 'copied',
          context_mode: 'global',
          provider: { kind: 'scripted' },
          tools: ['send_message'],
        },
        'SOUL.md': 'the new soul\n',
        'AGENT.md': 'the new agent document\n',
        'PRIMER.md': 'the new primer\n',
        'script.json': [
          {
            tool_calls: [{ name: 'send_message', input: { content: 'from the new script' } }],
            then: 'done',
          },
        ],
        'state.json': { instance_id: 'the-config-instance', last_processed_id: '999999' },
      });
      await mkdir(path.join(config, 'session'));
      await writeFile(path.join(config, 'session', 'notes.txt'), 'config-session-marker\n');
      await writeFile(path.join(config, 'session', 'global.jsonl'), 'config-session-marker\n');

      const agent = startNexusProcess(['agent', home, '--config-from', config], { url: broker.url, token });
      started.push(agent);
      await agent.waitForLog('"registered"', 30_000);

      for (const file of ['aspect.json', 'SOUL.md', 'AGENT.md', 'PRIMER.md', 'script.json'])
        expect(await readFile(path.join(home, file), 'utf8')).toBe(
          await readFile(path.join(config, file), 'utf8'),
        );
      expect(await readFile(path.join(home, 'session', 'notes.txt'), 'utf8')).toBe(oldNotes);

      // The copied script is the one the runtime runs.
      const sent = await admin.post<{ thread_id: string }>('/v1/messages', {
        content: 'which script?',
        to: ['copied'],
      });
      const { value: reply } = await waitUntil(
        async () => {
          const { messages } = await admin.get<{ messages: Message[] }>(
            `/v1/messages?thread_id=${sent.thread_id}`,
          );
          return messages.find((m) => m.from === 'copied');
        },
        { timeoutMs: 30_000, what: "the copied aspect's reply" },
      );
      expect(reply.content).toBe('from the new script');
      const session = await readFile(path.join(home, 'session', 'global.jsonl'), 'utf8');
      expect(session).not.toContain('config-session-marker');
      const state = JSON.parse(await readFile(path.join(home, 'state.json'), 'utf8')) as typeof oldState;
      expect(state.instance_id).toBe(oldState.instance_id);
      expect(BigInt(state.last_processed_id)).toBeLessThan(999_999n);
    },
    SPAWNING_TEST_MS,
  );
});
