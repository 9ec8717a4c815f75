/**
 * `nexus token mint --into-secret NAMESPACE/NAME` (B.69, B.96) as the chart's hook Jobs run it:
 * the real CLI process against a real broker and the Kubernetes API double (KUBECONFIG). The
 * token lands in the Secret and nowhere in the output; a second run patches the Secret it cannot
 * read (B.61: create, 409, merge patch, and never a GET); a failed write revokes the token again;
 * a missing cluster configuration is refused before any token is minted.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  adminClient,
  createTestDatabase,
  runNexus,
  startInProcessBroker,
  type NexusRun,
  type TestDatabase,
} from '../testing/index.js';
import { kubeconfigFor, startKubeDouble, type KubeDouble } from '../testing/kube-double/index.js';

interface TokenRow {
  id: string;
  kind: string;
  name?: string;
  revoked_at?: string;
}

describe('nexus token mint --into-secret', () => {
  let db: TestDatabase;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;
  let double: KubeDouble;
  let work: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('token_into_secret');
    broker = await startInProcessBroker({ databaseUrl: db.url });
    double = await startKubeDouble();
    double.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'nexus-system' } });
    work = await mkdtemp(path.join(tmpdir(), 'nexus-token-secret-'));
    env = {
      HOME: work,
      NEXUS_URL: broker.url,
      NEXUS_TOKEN: broker.adminToken,
      KUBECONFIG: await kubeconfigFor(double, { dir: work }),
    };
  });
  afterAll(async () => {
    await double?.stop();
    await broker?.stop();
    await db?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const tokens = async () =>
    (await adminClient(broker.url, broker.adminToken).get<{ tokens: TokenRow[] }>('/v1/admin/tokens')).tokens;
  const secret = () => double.find({ kind: 'Secret', namespace: 'nexus-system', name: 'nexus-worker-token' });
  const secretToken = () =>
    Buffer.from((secret()?.data as Record<string, string>).token as string, 'base64').toString('utf8');
  const mint = (extra: string[] = [], over: Record<string, string> = {}): Promise<NexusRun> =>
    runNexus(['token', 'mint', 'worker', '--name', 'pool', ...extra], { ...env, ...over });

  it('writes the token into a new Secret, then patches it on the next run, never reading it or printing the token', async () => {
    const first = await mint(['--into-secret', 'nexus-system/nexus-worker-token']);
    const firstId = /^minted token (\d+) into Secret nexus-system\/nexus-worker-token \(key token\)\n$/.exec(
      first.stdout,
    )?.[1];
    expect({ ...first, firstId }).toMatchObject({ code: 0, stderr: '', firstId: expect.any(String) });
    const firstToken = secretToken();
    expect(firstToken).toMatch(/^nxw_/);
    expect(first.output).not.toContain(firstToken);
    expect(secret()).toMatchObject({
      type: 'Opaque',
      metadata: { labels: { 'nexus.dev/token-id': firstId } },
    });
    expect(await tokens()).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: firstId, kind: 'worker', name: 'pool' })]),
    );

    const second = await mint(['--into-secret', 'nexus-system/nexus-worker-token', '--json']);
    expect(second).toMatchObject({ code: 0, stderr: '' });
    const reply = JSON.parse(second.stdout) as { id: string; secret: unknown };
    expect(reply).toEqual({
      id: expect.any(String),
      secret: { namespace: 'nexus-system', name: 'nexus-worker-token', key: 'token' },
    });
    expect(reply.id).not.toBe(firstId);
    const secondToken = secretToken();
    expect(secondToken).not.toBe(firstToken);
    expect(second.output).not.toContain(secondToken);
    expect(secret()?.metadata?.labels).toEqual({ 'nexus.dev/token-id': reply.id });

    // create, create (409 AlreadyExists), patch: and not one read of a Secret.
    const requests = double.requests({ kind: 'Secret' });
    expect(requests.map((r) => [r.verb, r.status])).toEqual([
      ['create', 201],
      ['create', 409],
      ['patch', 200],
    ]);
    expect(requests.find((r) => r.verb === 'patch')?.contentType).toBe('application/merge-patch+json');
  });

  it('a Secret that cannot be written gets no token: the minted one is revoked again', async () => {
    double.faults.add({ method: 'POST', path: /\/secrets$/, status: 500 });
    const run = await mint(['--into-secret', 'nexus-system/other-token']);
    expect(run).toMatchObject({
      code: 1,
      stdout: '',
      stderr: expect.stringMatching(
        /^nexus: token mint: could not write Secret nexus-system\/other-token \(revoked token (\d+) again\): .*500.*\n$/,
      ),
    });
    const id = /revoked token (\d+) again/.exec(run.stderr)?.[1];
    expect((await tokens()).find((t) => t.id === id)?.revoked_at).toEqual(expect.any(String));
    expect(double.find({ kind: 'Secret', namespace: 'nexus-system', name: 'other-token' })).toBeUndefined();
  });

  it('bad targets and a missing cluster are refused before any token is minted', async () => {
    const before = (await tokens()).length;
    const cases: [string[], Record<string, string>, string][] = [
      [
        ['--into-secret', 'nexus-worker-token'],
        {},
        'nexus: token mint: --into-secret: must be NAMESPACE/NAME (see nexus token mint --help)',
      ],
      [
        ['--into-secret', 'Nexus/x'],
        {},
        'nexus: token mint: --into-secret: namespace "Nexus" must be a DNS-1123 label (lower-case letters, digits and -, at most 63)',
      ],
      [
        ['--into-secret', 'nexus-system/x', '--secret-key', 'a/b'],
        {},
        'nexus: token mint: --secret-key: must be letters, digits, -, _ and . (at most 253)',
      ],
      [
        ['--into-secret', 'nexus-system/x'],
        { KUBECONFIG: '' },
        `nexus: token mint: no Kubernetes cluster: set KUBECONFIG, create ${path.join(work, '.kube', 'config')}, or run in a pod with a service account`,
      ],
    ];
    for (const [args, over, message] of cases) {
      const run = await mint(args, over);
      expect({ args, code: run.code, stderr: run.stderr }).toEqual({
        args,
        code: 2,
        stderr: expect.stringContaining(message),
      });
    }
    expect((await tokens()).length).toBe(before);
  });
});
