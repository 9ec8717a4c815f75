import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { useClaudeAspect, waitUntil } from '../testing/index.js';

interface Line {
  kind?: string;
  id?: string;
  payload?: Record<string, unknown>;
}

describe('proactive compaction in a long conversation', () => {
  const env = useClaudeAspect('runtime_compaction');

  it('appends a compaction once tokens pass window - reserve, and the next request carries the summary and the recent turns only', async () => {
    const { double } = env;
    // Window 30,000: reserve 10,000 and max output 4,096 by B.49, so compaction starts past 20,000.
    const { home } = await env.start({
      name: 'scribe',
      apiKey: 'sk-ant-compaction-test',
      aspect: { context_mode: 'global', compaction: { keep_recent_turns: 1 } },
      provider: { context_window: 30_000 },
    });
    const admin = env.admin();
    const sessionFile = path.join(home, 'session', 'global.jsonl');
    const lines = async (): Promise<Line[]> =>
      (await readFile(sessionFile, 'utf8').catch(() => ''))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Line);
    const turnEnds = async () => (await lines()).filter((l) => l.kind === 'custom.turn_end').length;
    const say = async (content: string, expectedTurnEnds: number) => {
      await admin.post('/v1/messages', { content, to: ['scribe'] });
      await waitUntil(async () => (await turnEnds()) >= expectedTurnEnds, {
        timeoutMs: 20_000,
        what: `the turn for "${content}"`,
      });
    };

    double.reply({ text: 'noted one', usage: { input_tokens: 1_000, output_tokens: 10 } });
    await say('first: the project is called Heron', 1);
    expect((await lines()).some((l) => l.kind === 'compaction')).toBe(false);

    double.reply({ text: 'noted two', usage: { input_tokens: 24_000, output_tokens: 10 } });
    double.reply({ text: 'SUMMARY: the project is called Heron.' }); // the compactor's summary call
    await say('second: the deadline is Friday', 2);
    const compaction = await waitUntil(async () => (await lines()).find((l) => l.kind === 'compaction'), {
      timeoutMs: 20_000,
      what: 'the compaction entry',
    });
    expect(compaction.value.payload).toMatchObject({
      summary: 'SUMMARY: the project is called Heron.',
      tokens_before: 24_010,
    });
    const kept = (await lines()).find((l) => l.id === compaction.value.payload?.first_kept_entry_id);
    expect(String(kept?.payload?.content)).toContain('the deadline is Friday');

    const requestsBefore = double.messageRequests().length;
    double.reply({ text: 'noted three' });
    await say('third: what do you remember?', 3);
    const next = double.messageRequests()[requestsBefore];
    const sent = JSON.stringify((next?.body as { messages: unknown }).messages);
    expect(sent).toContain('SUMMARY: the project is called Heron.');
    expect(sent).toContain('the deadline is Friday');
    expect(sent).toContain('what do you remember?');
    expect(sent).not.toContain('first: the project is called Heron');
    // Nothing was deleted: the first turn is still in the file.
    expect(JSON.stringify(await lines())).toContain('first: the project is called Heron');
  });

  it('compacts before a provider call whose request would not leave room for the answer (B.21)', async () => {
    const { double } = env;
    // Window 30,000 and max output 4,096: a request past about 25,900 tokens compacts first.
    const { home } = await env.start({
      name: 'archivist',
      apiKey: 'sk-ant-compaction-test',
      aspect: { context_mode: 'global', compaction: { keep_recent_turns: 1 } },
      provider: { context_window: 30_000 },
    });
    const admin = env.admin();
    const file = path.join(home, 'session', 'global.jsonl');
    const lines = async (): Promise<Line[]> =>
      (await readFile(file, 'utf8').catch(() => ''))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Line);
    const turnEnds = async () => (await lines()).filter((l) => l.kind === 'custom.turn_end').length;

    // About 10,000 tokens by estimate; the reported usage stays low, so no compaction after it.
    double.reply({ text: 'filed', usage: { input_tokens: 1_000, output_tokens: 10 } });
    await admin.post('/v1/messages', { content: `ledger one ${'alpha '.repeat(6_700)}`, to: ['archivist'] });
    await waitUntil(async () => (await turnEnds()) >= 1, { timeoutMs: 20_000, what: 'the first turn' });
    expect((await lines()).some((l) => l.kind === 'compaction')).toBe(false);

    // About 16,000 more: together past the limit, so the first turn is summarised before the call.
    const before = double.messageRequests().length;
    double.reply({ text: 'SUMMARY: ledger one was filed.' });
    double.reply({ text: 'filed too', usage: { input_tokens: 17_000, output_tokens: 10 } });
    await admin.post('/v1/messages', { content: `ledger two ${'beta '.repeat(13_000)}`, to: ['archivist'] });
    await waitUntil(async () => (await turnEnds()) >= 2, { timeoutMs: 20_000, what: 'the second turn' });

    const kinds = (await lines()).map((l) => l.kind);
    expect(kinds.indexOf('compaction')).toBeGreaterThan(kinds.lastIndexOf('turn.user'));
    expect(kinds.indexOf('compaction')).toBeLessThan(kinds.lastIndexOf('turn.assistant'));
    const [summaryCall, turnCall] = double.messageRequests().slice(before);
    expect(JSON.stringify(summaryCall?.body)).toContain('ledger one');
    const sent = JSON.stringify((turnCall?.body as { messages: unknown }).messages);
    expect(sent).toContain('SUMMARY: ledger one was filed.');
    expect(sent).toContain('ledger two');
    expect(sent).not.toContain('ledger one alpha');
  });
});
