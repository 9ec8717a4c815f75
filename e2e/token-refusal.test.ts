/**
 * B.80 on real processes (issue 9 item 14): only a 401 and a 403 identity_mismatch end `nexus
 * agent` and `nexus worker`, with exit 2 and one line naming the cause and the token's source. A
 * token from NEXUS_TOKEN gives up at once; one from NEXUS_TOKEN_FILE is re-read and retried for
 * NEXUS_TOKEN_RETRY_S, so a rotated Secret that arrives in time is picked up. Stay-down never ends
 * a runtime. Each retry is one log line, without a stack.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { BrokerClient } from '../client/index.js';
import {
  adminClient,
  createTestDatabase,
  mintAspectToken,
  newAdminTokenValue,
  startAgentProcess,
  startBrokerProcess,
  startWorkerProcess,
  writeHome,
  type BrokerProcess,
  type NexusProcess,
  type TestDatabase,
} from '../testing/index.js';

/** The lines a process printed for a person (not pino JSON): B.80's one line. */
const plainLines = (logs: string) => logs.split('\n').filter((line) => line.startsWith('nexus: '));
const unknownToken = (kind: 'a' | 'w') => `nx${kind}_${randomBytes(32).toString('base64url')}`;

describe('permanent refusals end a runtime or a worker; nothing else does (B.80)', () => {
  let db: TestDatabase;
  let broker: BrokerProcess;
  let admin: BrokerClient;
  let dir: string;
  const bootstrap = newAdminTokenValue();
  const processes: NexusProcess[] = [];
  const scriptedHome = (name: string) =>
    writeHome({ 'aspect.json': { name, context_mode: 'global', provider: { kind: 'scripted' } } });
  const agent = (home: string, token: string, env: Record<string, string> = {}) => {
    const p = startAgentProcess({ home, url: broker.url, token, env, metricsPort: '0' });
    processes.push(p);
    return p;
  };
  const worker = (token: string, env: Record<string, string> = {}) => {
    const p = startWorkerProcess({ url: broker.url, token, env, metricsPort: '0' });
    processes.push(p);
    return p;
  };
  const revokedAspectToken = async (name: string) => {
    const { id, token } = await mintAspectToken(admin, name);
    await admin.delete(`/v1/admin/tokens/${id}`);
    return token;
  };

  beforeAll(async () => {
    db = await createTestDatabase('token_refusal');
    broker = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap });
    admin = adminClient(broker.url, bootstrap);
    dir = await mkdtemp(path.join(tmpdir(), 'nexus-token-refusal-'));
  });
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.kill()));
    await broker?.stop();
    await db?.drop();
  });

  it('nexus agent with a revoked NEXUS_TOKEN exits 2 at once, naming the cause and NEXUS_TOKEN', async () => {
    const runtime = agent(await scriptedHome('revoked'), await revokedAspectToken('revoked'));
    expect(await runtime.exited()).toBe(2);
    expect(plainLines(runtime.logs())).toEqual([
      'nexus: the broker refused the token from NEXUS_TOKEN (401 unauthenticated): missing, unknown or revoked token',
    ]);
  });

  it('nexus agent whose aspect.json names another aspect than its token exits 2 (identity_mismatch)', async () => {
    const { token } = await mintAspectToken(admin, 'alice');
    const runtime = agent(await scriptedHome('mallory'), token);
    expect(await runtime.exited()).toBe(2);
    expect(plainLines(runtime.logs())).toEqual([
      "nexus: the broker refused the token from NEXUS_TOKEN (403 identity_mismatch): name: must be the token's aspect (alice)",
    ]);
  });

  it('a refused NEXUS_TOKEN_FILE is re-read and retried for NEXUS_TOKEN_RETRY_S, one line per retry, then exit 2 naming the file', async () => {
    const file = path.join(dir, 'revoked-token');
    await writeFile(file, (await revokedAspectToken('rotating')) + '\n');
    const started = Date.now();
    const runtime = agent(await scriptedHome('rotating'), '', {
      NEXUS_TOKEN_FILE: file,
      NEXUS_TOKEN_RETRY_S: '2',
    });
    expect(await runtime.exited()).toBe(2);
    const elapsedMs = Date.now() - started;
    console.log(`gave up after ${elapsedMs} ms with NEXUS_TOKEN_RETRY_S=2`);
    expect(elapsedMs).toBeGreaterThanOrEqual(2000);
    expect(plainLines(runtime.logs())).toEqual([
      `nexus: the broker refused the token from NEXUS_TOKEN_FILE=${file} (401 unauthenticated): missing, unknown or revoked token`,
    ]);
    const retries = runtime
      .logs()
      .split('\n')
      .filter((line) => line.includes('registration failed'));
    expect(retries.length).toBeGreaterThanOrEqual(2);
    for (const line of retries) expect(line).not.toContain('stack');
  });

  it('a token file rewritten with a valid token within the window: the runtime recovers and registers', async () => {
    const file = path.join(dir, 'rotated-token');
    await writeFile(file, unknownToken('a'));
    const runtime = agent(await scriptedHome('phoenix'), '', {
      NEXUS_TOKEN_FILE: file,
      NEXUS_TOKEN_RETRY_S: '120',
    });
    await runtime.waitForLog('registration failed');
    await writeFile(file, (await mintAspectToken(admin, 'phoenix')).token);
    await runtime.waitForLog('"registered"', 30_000);
    expect(await runtime.stop()).toBe(0);
    expect(plainLines(runtime.logs())).toEqual([]);
  });

  it('stay-down never ends the runtime: it keeps retrying and stops cleanly on SIGTERM', async () => {
    const { token } = await mintAspectToken(admin, 'sleeper');
    const runtime = agent(await scriptedHome('sleeper'), token);
    await runtime.waitForLog('"registered"');
    await admin.post('/v1/admin/aspects/sleeper/shutdown');
    await runtime.waitForLog('stay_down');
    expect(await runtime.stop()).toBe(0);
    expect(plainLines(runtime.logs())).toEqual([]);
  });

  it('nexus worker with a revoked NEXUS_TOKEN exits 2 at once with the line', async () => {
    const { id, token } = await admin.post<{ id: string; token: string }>('/v1/admin/tokens', {
      kind: 'worker',
      name: 'revoked-pool',
    });
    await admin.delete(`/v1/admin/tokens/${id}`);
    const hands = worker(token);
    expect(await hands.exited()).toBe(2);
    expect(plainLines(hands.logs())).toEqual([
      'nexus: the broker refused the token from NEXUS_TOKEN (401 unauthenticated): missing, unknown or revoked token',
    ]);
  });

  it('nexus worker logs each claim retry as one line without a stack, and recovers when its token file is rewritten', async () => {
    const file = path.join(dir, 'worker-token');
    await writeFile(file, unknownToken('w'));
    const hands = worker('', { NEXUS_TOKEN_FILE: file, NEXUS_TOKEN_RETRY_S: '120' });
    await hands.waitForLog('claim failed');
    const { token } = await admin.post<{ token: string }>('/v1/admin/tokens', {
      kind: 'worker',
      name: 'pool',
    });
    await writeFile(file, token);
    await hands.waitForLog('claims reach the broker again', 30_000);
    const retries = hands
      .logs()
      .split('\n')
      .filter((line) => line.includes('claim failed'));
    expect(retries.length).toBeGreaterThanOrEqual(1);
    for (const line of retries) {
      expect(line).not.toContain('stack');
      expect(line).toContain('401 unauthenticated');
    }
    expect(await hands.stop()).toBe(0);
  });

  it('nexus agent whose token is revoked while its broker is away exits 2 when the socket is refused', async () => {
    const { id, token } = await mintAspectToken(admin, 'away');
    const runtime = agent(await scriptedHome('away'), token);
    await runtime.waitForLog('"registered"');
    await broker.stop();
    // Revoked while no broker runs: the runtime's socket meets an upgrade refused with 401.
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    await sql.query('UPDATE tokens SET revoked_at = now() WHERE id = $1', [id]);
    await sql.end();
    broker = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap, port: broker.port });
    admin = adminClient(broker.url, bootstrap);
    // Before the mend the socket retried the old token forever and the runtime never ended.
    expect(await runtime.exited()).toBe(2);
    expect(plainLines(runtime.logs())).toEqual([
      'nexus: the broker refused the token from NEXUS_TOKEN (401 unauthenticated): missing, unknown or revoked token',
    ]);
  });
});
