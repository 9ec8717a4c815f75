import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { WireError } from '../protocol/index.js';
import {
  adminClient,
  createTestDatabase,
  mintAspectToken,
  newAdminTokenValue,
  runNexus,
  startAgentProcess,
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
  const bootstrap = newAdminTokenValue();

  beforeAll(async () => {
    db = await createTestDatabase('session_control');
    [replicaA, replicaB] = await Promise.all([
      startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap }),
      startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap }),
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

  it('the CLI prints a request the runtime has not answered yet, and follows it to its result', async () => {
    // Control waits for the provider call in progress: while a slow one runs, `session ls` cannot be answered.
    const admin = adminClient(replicaB.url, bootstrap);
    const { token } = await mintAspectToken(admin, 'ponder');
    const home = await writeHome({
      'aspect.json': { name: 'ponder', context_mode: 'global', provider: { kind: 'scripted' } },
      'script.json': [{ match: 'think', reply: 'thought it over', ttft_ms: 4000 }, { reply: 'ok' }],
    });
    const ponder = startAgentProcess({ home, url: replicaA.url, token });
    try {
      await ponder.waitForLog('"registered"');
      await admin.post('/v1/messages', { content: 'think slowly', to: ['ponder'] });
      // The turn has begun once its user entry is in the session; the reply then takes 4 s.
      await waitUntil(
        async () =>
          (await readFile(path.join(home, 'session', 'global.jsonl'), 'utf8').catch(() => '')).includes(
            'think slowly',
          ),
        { timeoutMs: 10_000, what: 'the slow turn to start' },
      );
      const env = { NEXUS_URL: replicaB.url, NEXUS_TOKEN: bootstrap };

      const pending = await runNexus(['session', 'ls', 'ponder', '--wait', '1'], env);
      expect(pending.code).toBe(0);
      const requestId = /nexus session request <aspect> (\d+)/.exec(pending.output)?.[1];
      expect(pending.output).toContain('pending: the runtime has not answered within 1 s');
      expect(requestId).toBeDefined();

      const followed = await waitUntil(
        async () => {
          const run = await runNexus(['session', 'request', 'ponder', requestId as string, '--json'], env);
          const state = JSON.parse(run.output) as { state: string; result?: { sessions: { sid: string }[] } };
          return state.state === 'pending' ? null : state;
        },
        { timeoutMs: 20_000, what: 'the request to be answered' },
      );
      expect(followed.value).toMatchObject({ state: 'done', action: 'list_sessions' });
      expect(followed.value.result?.sessions.map((s) => s.sid)).toEqual(['global']);

      // A branch summary from the CLI: of the branch from the first entry of the finished turn.
      const firstEntry = (await readFile(path.join(home, 'session', 'global.jsonl'), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { id: string; kind: string })
        .find((l) => l.kind === 'turn.user');
      const summarised = await runNexus(
        ['session', 'summarise-branch', 'ponder', firstEntry?.id ?? '?'],
        env,
      );
      expect(summarised.output).toMatch(/^branch summary written \(\w+\)/);
      expect(await readFile(path.join(home, 'session', 'global.jsonl'), 'utf8')).toContain(
        '"branch_summary"',
      );

      const bad = await runNexus(['session', 'ls', 'ponder', '--wait', '301'], env);
      expect(bad.code).not.toBe(0);
      expect(bad.output).toContain('must be whole seconds from 0 to 300');
    } finally {
      await ponder.stop();
    }
  });

  it('answers 409 not_connected when the aspect has no socket, and 404 for an unknown entry', async () => {
    const admin = adminClient(replicaA.url, bootstrap);
    const offline = await admin.post('/v1/aspects/nobody/compact', {}).then(
      () => null,
      (e: unknown) => e as WireError,
    );
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
