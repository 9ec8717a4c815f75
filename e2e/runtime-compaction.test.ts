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
});
