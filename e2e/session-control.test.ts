import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { WireError } from '../protocol/index.js';
import {
  adminClient,
  createAspect,
  createTestDatabase,
  mintAspectToken,
  newAdminTokenValue,
  runNexus,
  startAgentProcess,
  startAnthropicDouble,
  startBrokerProcess,
  waitUntil,
  writeHome,
  type AgentProcess,
  type BrokerProcess,
  type TestDatabase,
} from '../testing/index.js';

interface TreeEntry {
  id: string;
  parent_id: string | null;
  kind: string;
  preview: string;
}

describe('session control through the admin API (rewind, compact, tree)', () => {
  let db: TestDatabase;
  let replicaA: BrokerProcess;
  let replicaB: BrokerProcess;
  let agent: AgentProcess | undefined;
  /** The home of the first test's aspect, which later tests steer through the CLI. */
  let historianHome: string;
  const bootstrap = newAdminTokenValue();
  const admin = () => adminClient(replicaB.url, bootstrap);

  beforeAll(async () => {
    db = await createTestDatabase('session_control');
    // One credential key for both replicas: the aspect on claude-api fetches its key through either.
    const env = { NEXUS_SECRET_KEY: randomBytes(32).toString('base64') };
    [replicaA, replicaB] = await Promise.all([
      startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap, env }),
      startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap, env }),
    ]);
  });
  afterAll(async () => {
    await agent?.stop();
    await Promise.all([replicaA?.stop(), replicaB?.stop()]);
    await db?.drop();
  });

  it('compacts and rewinds on request from another replica, writes a branch summary and deletes nothing', async () => {
    // The runtime's socket is on replica A; every admin call goes to replica B (B.12).
    const admin = adminClient(replicaB.url, bootstrap);
    const { token } = await mintAspectToken(admin, 'historian');
    const home = await writeHome({
      'aspect.json': {
        name: 'historian',
        context_mode: 'global',
        provider: { kind: 'scripted' },
        compaction: { keep_recent_turns: 1 },
      },
      'script.json': [{ reply: 'noted: {{message.content}}' }],
    });
    historianHome = home;
    agent = startAgentProcess({ home, url: replicaA.url, token });
    await agent.waitForLog('"registered"');
    const file = path.join(home, 'session', 'global.jsonl');
    const fileText = () => readFile(file, 'utf8').catch(() => '');
    for (const [i, text] of ['alpha', 'beta', 'gamma'].entries()) {
      await admin.post('/v1/messages', { content: text, to: ['historian'] });
      await waitUntil(async () => (await fileText()).split('custom.turn_end').length - 1 >= i + 1, {
        timeoutMs: 20_000,
        what: `turn ${i + 1}`,
      });
    }

    const { sessions } = await admin.get<{ sessions: { sid: string; entries: number; head: string }[] }>(
      '/v1/aspects/historian/sessions',
    );
    expect(sessions.map((s) => s.sid)).toEqual(['global']);
    const before = await admin.get<{ head: string; entries: TreeEntry[] }>(
      '/v1/aspects/historian/sessions/global/tree',
    );
    expect(before.entries.map((e) => e.kind)).toContain('turn.user');

    const compacted = await admin.post<{
      compaction_id: string;
      tokens_before: number;
      tokens_after: number;
    }>('/v1/aspects/historian/compact', {});
    expect(compacted.compaction_id).toMatch(/^[0-9A-Z]{26}$/);

    const firstTurnEnd = before.entries.find((e) => e.kind === 'custom.turn_end') as TreeEntry;
    const rewound = await admin.post<{ head: string; branch_summary_id?: string }>(
      '/v1/aspects/historian/rewind',
      {
        target_entry_id: firstTurnEnd.id,
      },
    );
    expect(rewound.branch_summary_id).toBeDefined();
    expect(rewound.head).toBe(rewound.branch_summary_id);

    const after = await admin.get<{ head: string; entries: TreeEntry[] }>(
      '/v1/aspects/historian/sessions/global/tree',
    );
    expect(after.head).toBe(rewound.head);
    const summary = after.entries.find((e) => e.id === rewound.branch_summary_id);
    expect(summary).toMatchObject({ kind: 'branch_summary', parent_id: firstTurnEnd.id });
    // Nothing deleted: every entry from before is still in the file.
    const text = await fileText();
    for (const entry of before.entries) expect(text).toContain(entry.id);
    expect(JSON.parse(await readFile(`${file}.head`, 'utf8')).id).toBe(rewound.head);
    // The changes are events in the stream too (SPEC section 10).
    const { value: kinds } = await waitUntil(
      async () => {
        const { events } = await admin.get<{ events: { kind: string; data: { head?: string } }[] }>(
          '/v1/events?aspect=historian&limit=1000',
        );
        const found = events.map((e) => e.kind);
        return found.includes('rewind') && found.includes('compaction') ? found : null;
      },
      { timeoutMs: 10_000, what: 'rewind and compaction events' },
    );
    expect(kinds).toEqual(expect.arrayContaining(['turn.start', 'turn.end', 'compaction', 'rewind']));
  });

  it('applies a rewind between the provider calls of a running turn, which ends the turn (B.48)', async () => {
    const admin = adminClient(replicaB.url, bootstrap);
    const { token } = await mintAspectToken(admin, 'steady');
    const home = await writeHome({
      'aspect.json': {
        name: 'steady',
        context_mode: 'global',
        provider: { kind: 'scripted' },
        tools: ['send_message'],
      },
      // The long job: each provider call of it takes 3 s; its first call asks for a tool.
      'script.json': [
        {
          match: 'long job',
          tool_calls: [{ name: 'send_message', input: { content: 'on it' } }],
          then: 'finished the long job',
          ttft_ms: 3000,
        },
        { reply: 'noted' },
      ],
    });
    const steady = startAgentProcess({ home, url: replicaA.url, token });
    try {
      await steady.waitForLog('"registered"');
      const file = path.join(home, 'session', 'global.jsonl');
      const lines = async () =>
        (await readFile(file, 'utf8').catch(() => ''))
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { id: string; kind: string; payload: Record<string, unknown> });
      await admin.post('/v1/messages', { content: 'a short one', to: ['steady'] });
      const firstEnd = await waitUntil(
        async () => (await lines()).find((l) => l.kind === 'custom.turn_end'),
        {
          timeoutMs: 20_000,
          what: 'the first turn',
        },
      );

      await admin.post('/v1/messages', { content: 'the long job', to: ['steady'] });
      await waitUntil(async () => JSON.stringify(await lines()).includes('the long job'), {
        timeoutMs: 10_000,
        what: 'the long turn to start',
      });
      // Sent during the turn's first provider call: applied once its tool has run, before a second call.
      const rewound = await admin.post<{ head: string }>('/v1/aspects/steady/rewind?wait_s=20', {
        target_entry_id: firstEnd.value.id,
      });
      expect(rewound.head).toBeDefined();

      const after = await lines();
      const longTurn = after.slice(after.findIndex((l) => JSON.stringify(l).includes('the long job')));
      expect(longTurn.filter((l) => l.kind === 'turn.assistant')).toHaveLength(1);
      expect(longTurn.filter((l) => l.kind === 'turn.tool_result')).toHaveLength(1);
      expect(longTurn.find((l) => l.kind === 'custom.turn_end')?.payload.reason).toBe('control');
      expect(JSON.stringify(after)).not.toContain('finished the long job');
      // Nothing of the departed branch is lost.
      expect(JSON.stringify(after)).toContain('on it');
    } finally {
      await steady.stop();
    }
  });

  it('prints the tree, compacts and rewinds through the CLI, in text and --json', async () => {
    // historian, from the first test, is still running on replica A; the CLI talks to replica B.
    const env = { NEXUS_URL: replicaB.url, NEXUS_TOKEN: bootstrap };
    const ok = async (args: string[]) => {
      const run = await runNexus(args, env);
      expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
      return run.stdout;
    };
    const file = path.join(historianHome, 'session', 'global.jsonl');
    const turnEnds = async () =>
      (await readFile(file, 'utf8').catch(() => '')).split('custom.turn_end').length - 1;
    const before = await turnEnds();
    for (const [i, text] of ['delta', 'epsilon'].entries()) {
      await admin().post('/v1/messages', { content: text, to: ['historian'] });
      await waitUntil(async () => (await turnEnds()) >= before + i + 1, {
        timeoutMs: 20_000,
        what: `turn ${text}`,
      });
    }

    const tree = JSON.parse(await ok(['session', 'tree', 'historian', '--json'])) as {
      head: string;
      entries: TreeEntry[];
    };
    expect(tree.entries.map((e) => e.kind)).toEqual(expect.arrayContaining(['turn.user', 'custom.turn_end']));
    const treeText = (await ok(['session', 'tree', 'historian', 'global'])).trimEnd().split('\n');
    expect(treeText).toHaveLength(tree.entries.length);
    // One line per entry: the head starred, its parent, its kind and a preview.
    expect(treeText.filter((l) => l.startsWith('* '))).toEqual([expect.stringContaining(` ${tree.head} ← `)]);
    const epsilonEnd = tree.entries.filter((e) => e.kind === 'custom.turn_end').at(-1) as TreeEntry;
    const deltaEnd = tree.entries.filter((e) => e.kind === 'custom.turn_end').at(-2) as TreeEntry;
    expect(
      treeText.filter((l) =>
        l.startsWith(`  ${deltaEnd.id} ← ${deltaEnd.parent_id ?? 'root'}  custom.turn_end`),
      ),
    ).toHaveLength(1);

    const compacted = await ok(['session', 'compact', 'historian']);
    const compactionId = /^compacted: \d+ → \d+ tokens \(([0-9A-Z]{26})\)\n$/.exec(compacted)?.[1];
    expect(compactionId).toBeDefined();
    const afterCompaction = JSON.parse(await ok(['session', 'tree', 'historian', '--json'])) as {
      head: string;
      entries: TreeEntry[];
    };
    expect(afterCompaction.entries.find((e) => e.id === compactionId)?.kind).toBe('compaction');

    const rewound = await ok(['session', 'rewind', 'historian', epsilonEnd.id]);
    const summaryId = /^head is now ([0-9A-Z]{26}) \(branch summary written\)\n$/.exec(rewound)?.[1];
    expect(summaryId).toBeDefined();
    const bare = JSON.parse(
      await ok(['session', 'rewind', 'historian', deltaEnd.id, '--no-summary', '--json']),
    ) as { head: string; branch_summary_id?: string };
    expect(bare).toEqual({ head: deltaEnd.id });
    const last = JSON.parse(await ok(['session', 'tree', 'historian', '--json'])) as {
      head: string;
      entries: TreeEntry[];
    };
    expect(last.head).toBe(deltaEnd.id);
    expect(last.entries.find((e) => e.id === summaryId)).toMatchObject({
      kind: 'branch_summary',
      parent_id: epsilonEnd.id,
    });
    expect(JSON.parse(await ok(['session', 'ls', 'historian', '--json']))).toMatchObject({
      sessions: [expect.objectContaining({ sid: 'global' })],
    });
    expect(await ok(['session', 'ls', 'historian'])).toMatch(
      /^SESSION\tENTRIES\tTOKENS\tACTIVE\nglobal\t\d+\t\d+\/\d+\t(active|-)\n$/,
    );
  });

  it('the CLI prints a request the runtime has not answered yet, and follows it to its result', async () => {
    // Control waits for the provider call in progress. The double holds ponder's call until the CLI
    // has printed "pending", so the outcome does not depend on how fast the CLI starts.
    const double = await startAnthropicDouble();
    let release = () => undefined as void;
    const held = new Promise<void>((resolve) => (release = resolve));
    try {
      double.reply({ text: 'thought it over', hold: held });
      const { token } = await mintAspectToken(admin(), 'ponder');
      await admin().call('PUT', '/v1/credentials/anthropic', { value: 'sk-ant-test-ponder' });
      await admin().post('/v1/credentials/anthropic/grants', { aspect: 'ponder' });
      const home = await writeHome({
        'aspect.json': {
          name: 'ponder',
          context_mode: 'global',
          provider: { kind: 'claude-api', model: 'claude-sonnet-4-5', base_url: double.url },
        },
      });
      const ponder = startAgentProcess({ home, url: replicaA.url, token });
      try {
        await ponder.waitForLog('"registered"');
        await admin().post('/v1/messages', { content: 'think slowly', to: ['ponder'] });
        await waitUntil(() => double.messageRequests().length > 0, {
          timeoutMs: 20_000,
          what: 'the runtime to be inside its provider call',
        });
        const env = { NEXUS_URL: replicaB.url, NEXUS_TOKEN: bootstrap };

        const pending = await runNexus(['session', 'ls', 'ponder', '--wait', '1'], env);
        expect(pending.code).toBe(0);
        const requestId = /nexus session request <aspect> (\d+)/.exec(pending.stdout)?.[1];
        expect(pending.stdout).toContain('pending: the runtime has not answered within 1 s');
        expect(requestId).toBeDefined();
        release();

        const followed = await waitUntil(
          async () => {
            const run = await runNexus(['session', 'request', 'ponder', requestId as string, '--json'], env);
            const state = JSON.parse(run.stdout) as {
              state: string;
              result?: { sessions: { sid: string }[] };
            };
            return state.state === 'pending' ? null : state;
          },
          { timeoutMs: 20_000, what: 'the request to be answered' },
        );
        expect(followed.value).toMatchObject({ state: 'done', action: 'list_sessions' });
        expect(followed.value.result?.sessions.map((s) => s.sid)).toEqual(['global']);
        const sessionFile = () =>
          readFile(path.join(home, 'session', 'global.jsonl'), 'utf8').catch(() => '');
        await waitUntil(async () => (await sessionFile()).includes('thought it over'), {
          timeoutMs: 20_000,
          what: 'the held turn to finish',
        });

        // A branch summary from the CLI: of the branch from the first entry of the finished turn.
        const firstEntry = (await sessionFile())
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { id: string; kind: string })
          .find((l) => l.kind === 'turn.user');
        const summarised = await runNexus(
          ['session', 'summarise-branch', 'ponder', firstEntry?.id ?? '?'],
          env,
        );
        expect(summarised.stdout).toMatch(/^branch summary written \(\w+\)/);
        expect(await sessionFile()).toContain('"branch_summary"');
      } finally {
        release();
        await ponder.stop();
      }
    } finally {
      await double.stop();
    }
  });

  it('answers 404 for an aspect that never registered, 409 not_connected for one with no socket, and 404 for an unknown entry', async () => {
    const admin = adminClient(replicaA.url, bootstrap);
    const refusal = (call: Promise<unknown>) =>
      call.then(
        () => null,
        (e: unknown) => e as WireError,
      );
    const nobody = await refusal(admin.post('/v1/aspects/nobody/compact', {}));
    expect(nobody).toMatchObject({ code: 'not_found', status: 404 });
    expect(nobody?.message).toBe('no aspect named nobody has registered');
    await createAspect(replicaA.url, admin, 'socketless'); // registered, never connected
    const offline = await refusal(admin.post('/v1/aspects/socketless/compact', {}));
    expect(offline).toMatchObject({ code: 'not_connected', status: 409 });
    const unknown = await admin
      .post('/v1/aspects/historian/rewind', { target_entry_id: '01ARZ3NDEKTSV4RRFFQ69G5FAV' })
      .then(
        () => null,
        (e: unknown) => e as WireError,
      );
    expect(unknown).toMatchObject({ code: 'not_found', status: 404 });
  });
});
