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
  waitUntil,
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
    // A header line, then the dispatch (B.91).
    expect(done.stdout).toMatch(
      /^DISPATCH\tSTATE\tHAND\tATTEMPT\tSTATUS\tSUMMARY\n\d+\tdone\thelper\/echo\t1\tok\techo: hello there\n$/,
    );
    const id = /^(\d+)\t/m.exec(done.stdout)?.[1] as string;
    expect(await nexus('hand', 'status', id)).toMatchObject({ code: 0, stdout: done.stdout, stderr: '' });

    // A long wait shows its progress, on stderr, as the state changes (section 1).
    const slow = await nexus('hand', 'helper', 'echo', 'slowly', '--input', '{"n": 3}', '--wait');
    expect(slow.code).toBe(0);
    expect(slow.output).toMatch(/\trunning, attempt 1\n/);
    expect(slow.output).toContain('echo: took its time');

    // Section 1's form, `hand ASPECT HAND PROMPT`, is the same command.
    const short = await nexus('hand', 'helper', 'echo', 'short form', '--input', '{"n": 2}', '--wait');
    expect(short.code).toBe(0);
    expect(short.output).toContain('echo: short form');

    const queued = await nexus('hand', 'helper', 'echo', 'no wait', '--input', '{"n": 5}');
    expect(queued).toMatchObject({ code: 0, stderr: '' });
    expect(queued.stdout).toMatch(/^DISPATCH\tSTATE\n\d+\tqueued\n$/);
    const queuedId = /\n(\d+)\t/.exec(queued.stdout)?.[1] as string;
    // Done before the queue is listed empty below.
    await waitUntil(
      async () =>
        (await adminClient(broker.url, bootstrap).get<{ state: string }>(`/v1/hands/dispatches/${queuedId}`))
          .state === 'done',
      { timeoutMs: 30_000, what: 'the dispatch queued without --wait to be done' },
    );

    const unknown = await nexus('hand', 'dispatch', 'helper', 'paint', 'x');
    expect(unknown.code).toBe(3);
    expect(unknown.stdout).toMatch(/^STATE\tSTATUS\tSUMMARY\nrejected\tunknown_hand\t/);

    const invalid = await nexus('hand', 'dispatch', 'helper', 'echo', 'x', '--input', '{"m": 1}');
    expect(invalid.code).toBe(3);
    expect(invalid.output).toContain("invalid_input\tinput: must have required property 'n'");

    const notJson = await nexus('hand', 'dispatch', 'helper', 'echo', 'x', '--input', '{oops');
    expect(notJson).toMatchObject({
      code: 2,
      stdout: '',
      stderr: 'nexus: hand dispatch: --input: is not valid JSON (see nexus hand dispatch --help)\n',
    });

    const badId = await nexus('hand', 'status', 'abc');
    expect(badId).toMatchObject({
      code: 2,
      stdout: '',
      stderr: 'nexus: hand status: <id>: must be a decimal id string (see nexus hand status --help)\n',
    });
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
    const text = await nexus('queue');
    expect(text).toMatchObject({ code: 0, stderr: '' });
    expect(text.stdout).toMatch(/^N 2 {2}H \d+ {2}running 0 {2}queued 0\nno dispatches queued or running\n$/);
  }, 120_000);

  // Last: it stops the worker.
  it('with no worker, --wait says so after 10 s, and --timeout gives up saying so (B.91)', async () => {
    await worker.stop();
    const waited = await nexus(
      'hand',
      'helper',
      'echo',
      'anyone?',
      '--input',
      '{"n": 6}',
      '--wait',
      '--timeout',
      '12',
    );
    expect({ code: waited.code, stdout: waited.stdout }).toEqual({ code: 1, stdout: '' });
    const id = /^(\d+)\tqueued\n/.exec(waited.stderr)?.[1] as string;
    expect(waited.stderr.split('\n')).toEqual([
      `${id}\tqueued`,
      `${id}\tstill queued after 10 s: no worker has claimed it (is \`nexus worker\` running?)`,
      `nexus: hand dispatch: timed out after 12 s with dispatch ${id} still queued; it goes on ` +
        `(nexus hand status ${id}; nexus hand abort ${id})`,
      '',
    ]);
    const listed = await nexus('queue');
    expect(listed.stdout).toMatch(
      new RegExp(
        `\nDISPATCH\tSTATE\tHAND\tDISPATCHER\tWORKER\n(.*\n)*${id}\tqueued\thelper/echo\top:bootstrap\t-\n`,
      ),
    );
    await nexus('hand', 'abort', id);
  }, 120_000);
});
