/** `nexus hand` and `nexus queue` against a broker process and a worker process. */
import { randomUUID } from 'node:crypto';
import { BrokerClient } from '../client/index.js';
import {
  adminClient,
  createTestDatabase,
  mintAspectToken,
  newAdminTokenValue,
  registerBody,
  runNexus,
  startBrokerProcess,
  startWorkerProcess,
  type BrokerProcess,
  type NexusProcess,
  type TestDatabase,
} from '../testing/index.js';

describe('nexus hand and nexus queue', () => {
  let db: TestDatabase;
  let broker: BrokerProcess;
  let worker: NexusProcess;
  const bootstrap = newAdminTokenValue();
  const nexus = (...args: string[]) => runNexus(args, { NEXUS_URL: broker.url, NEXUS_TOKEN: bootstrap });

  beforeAll(async () => {
    db = await createTestDatabase('hands_cli');
    broker = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap });
    const admin = adminClient(broker.url, bootstrap);
    const { token } = await mintAspectToken(admin, 'helper');
    await new BrokerClient({ url: broker.url, token }).post(
      '/v1/aspects/register',
      registerBody('helper', randomUUID(), {
        hands: [{ name: 'echo', description: 'echoes', input_schema: { type: 'object', required: ['n'] } }],
        script: [
          { match: 'slowly', reply: 'echo: took its time', ttft_ms: 1500 },
          { reply: 'echo: {{message.content}}' },
        ],
      }),
    );
    const workerToken = await admin.post<{ token: string }>('/v1/admin/tokens', {
      kind: 'worker',
      name: 'pool',
    });
    worker = startWorkerProcess({ url: broker.url, token: workerToken.token });
  }, 60_000);
  afterAll(async () => {
    await worker?.stop();
    await broker?.stop();
    await db?.drop();
  });

  it('dispatches and waits for the result; refusals and bad arguments exit non-zero, saying why', async () => {
    const done = await nexus(
      'hand',
      'dispatch',
      'helper',
      'echo',
      'hello there',
      '--input',
      '{"n": 1}',
      '--wait',
    );
    expect(done.code).toBe(0);
    expect(done.output).toMatch(/\tdone\thelper\/echo\tattempt 1\tok\techo: hello there/);

    // A long wait shows its progress, on stderr, as the state changes (section 1).
    const slow = await nexus('hand', 'helper', 'echo', 'slowly', '--input', '{"n": 3}', '--wait');
    expect(slow.code).toBe(0);
    expect(slow.output).toMatch(/\trunning, attempt 1\n/);
    expect(slow.output).toContain('echo: took its time');

    // Section 1's form, `hand ASPECT HAND PROMPT`, is the same command.
    const short = await nexus('hand', 'helper', 'echo', 'short form', '--input', '{"n": 2}', '--wait');
    expect(short.code).toBe(0);
    expect(short.output).toContain('echo: short form');

    const unknown = await nexus('hand', 'dispatch', 'helper', 'paint', 'x');
    expect(unknown.code).toBe(3);
    expect(unknown.output).toContain('rejected\tunknown_hand');

    const invalid = await nexus('hand', 'dispatch', 'helper', 'echo', 'x', '--input', '{"m": 1}');
    expect(invalid.code).toBe(3);
    expect(invalid.output).toContain("invalid_input\tinput: must have required property 'n'");

    const notJson = await nexus('hand', 'dispatch', 'helper', 'echo', 'x', '--input', '{oops');
    expect(notJson.code).toBe(2);
    expect(notJson.output).toContain('--input: is not valid JSON');

    const badId = await nexus('hand', 'status', 'abc');
    expect(badId.code).toBe(2);
    expect(badId.output).toContain('id:');
  }, 120_000);

  it('shows and changes the pool limits, and lists the queue', async () => {
    const set = await nexus('queue', 'limits', '--n', '2', '--h', '5');
    expect(set.code).toBe(0);
    expect(set.output).toContain('N 2\nH 5\n');
    const back = await nexus('queue', 'limits', '--h', 'default', '--json');
    expect(JSON.parse(back.output)).toMatchObject({ n: 2, h_default: true });
    const bad = await nexus('queue', 'limits', '--n', '0');
    expect(bad.code).toBe(2);
    expect(bad.output).toContain('n:');
    const listed = await nexus('queue', '--json'); // bare `queue` (section 1) lists it
    expect(JSON.parse(listed.output)).toMatchObject({
      n: 2,
      by_dispatcher: [],
      by_target: [],
      dispatches: [],
    });
  }, 120_000);
});
