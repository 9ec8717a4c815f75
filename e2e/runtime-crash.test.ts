import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseSessionEntry } from '../protocol/index.js';
import {
  adminClient,
  createAspect,
  createTestDatabase,
  mintAspectToken,
  newAdminTokenValue,
  sleep,
  startAgentProcess,
  startBrokerProcess,
  waitUntil,
  writeHome,
  type BrokerProcess,
  type TestDatabase,
} from '../testing/index.js';

const CRASH_POINTS = ['after-user-append', 'after-assistant-append', 'after-tool-result', 'before-ack'];

describe('SIGKILL of the runtime between append and acknowledgement (fault 9)', () => {
  let db: TestDatabase;
  let broker: BrokerProcess;
  const bootstrap = newAdminTokenValue();

  beforeAll(async () => {
    db = await createTestDatabase('runtime_crash');
    broker = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap });
  });
  afterAll(async () => {
    await broker?.stop();
    await db?.drop();
  });

  it.each(CRASH_POINTS)(
    'at %s: the session parses, nothing acknowledged is lost, the message is answered once',
    async (point) => {
      const admin = adminClient(broker.url, bootstrap);
      const name = `echo-${point.replace(/[^a-z]/g, '')}`.slice(0, 40);
      const { token } = await mintAspectToken(admin, name);
      const home = await writeHome({
        'aspect.json': {
          name,
          context_mode: 'global',
          provider: { kind: 'scripted' },
          tools: ['send_message'],
        },
        'script.json': [
          {
            tool_calls: [{ name: 'send_message', input: { content: 'echo: {{message.content}}' } }],
            then: 'replied',
          },
        ],
      });
      const peer = await createAspect(broker.url, admin, `peer-${name}`.slice(0, 52));
      await peer.connect(broker.url);

      const crashing = startAgentProcess({ home, url: broker.url, token, env: { NEXUS_CRASH_AT: point } });
      await crashing.waitForLog('"registered"');
      await peer.http.post('/v1/messages', { content: `hello ${point}`, to: [name] });
      await waitUntil(() => crashing.child.signalCode === 'SIGKILL', {
        timeoutMs: 20_000,
        what: `the crash at ${point}`,
      });

      const restarted = startAgentProcess({ home, url: broker.url, token });
      try {
        await waitUntil(() => peer.received.length >= 1, {
          timeoutMs: 20_000,
          what: 'the echo after the restart',
        });
        // The restarted runtime finishes the turn (B.46) and acknowledges it.
        await waitUntil(
          async () =>
            (await readFile(path.join(home, 'session', 'global.jsonl'), 'utf8')).includes('custom.turn_end'),
          {
            timeoutMs: 20_000,
            what: 'the turn to end after the restart',
          },
        );
        await sleep(500); // room for a wrongly repeated reply to show up
        expect(peer.received.map((m) => m.content)).toEqual([`echo: hello ${point}`]);

        const lines = (await readFile(path.join(home, 'session', 'global.jsonl'), 'utf8')).trim().split('\n');
        const entries = lines.slice(1).map((l) => parseSessionEntry(JSON.parse(l)));
        expect(entries.every((r) => r.success)).toBe(true);
        const kinds = entries.map((r) => (r.success ? r.data.kind : 'bad'));
        expect(kinds.filter((k) => k === 'turn.user')).toHaveLength(1);
        expect(kinds.filter((k) => k === 'custom.turn_end')).toHaveLength(1);
        expect(kinds.filter((k) => k === 'turn.tool_result')).toHaveLength(1);
      } finally {
        await restarted.stop();
        peer.socket?.close();
      }
    },
  );
});
