/**
 * Metrics and health of the runtime and the worker (issue 9 item 12; SPEC section 10, B.60, B.70,
 * B.85), scraped from the real processes: a runtime on `claude-api` against the Anthropic double
 * runs scripted turns (one compacts, one fails), a worker runs a Hand of a `claude-api` aspect, and
 * the series and their label values are read back from `/metrics`. Tests pass
 * `--metrics-port auto`; a taken default port must not stop a process; with metrics off,
 * `HEALTH_PORT` serves the probes alone.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { BrokerClient } from '../client/index.js';
import type { DispatchInfo, DispatchReply } from '../protocol/index.js';
import {
  mintAspectToken,
  registerBody,
  scrapeMetrics,
  startAgentProcess,
  startWorkerProcess,
  useClaudeAspect,
  waitUntil,
  writeHome,
  type NexusProcess,
} from '../testing/index.js';

const probe = async (url: string) => (await fetch(url)).status;

/** Holds `port` for the test (if another process already holds it, it is taken all the same). */
async function holdPort(port: number): Promise<() => Promise<void>> {
  const server = net.createServer();
  const held = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, () => resolve(true));
  });
  return () => (held ? new Promise((resolve) => server.close(() => resolve())) : Promise.resolve());
}

/** A port that was free a moment ago. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('runtime and worker metrics and health', () => {
  const env = useClaudeAspect('process_metrics');
  const processes: NexusProcess[] = [];
  // Each test's processes stop before the broker does (a worker's long-poll would hold it up).
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
  });

  it('the runtime exports turns, provider calls, tokens, cost, context ratio and compactions by aspect', async () => {
    const { double } = env;
    // Window 30,000: reserve 10,000 by B.49, so the second turn (24,010 tokens) compacts.
    const { agent, home } = await env.start({
      name: 'scribe',
      apiKey: 'sk-ant-metrics-test',
      aspect: { context_mode: 'global', compaction: { keep_recent_turns: 1 } },
      provider: { context_window: 30_000 },
    });
    const metricsUrl = await agent.metricsUrl();
    const base = metricsUrl.replace(/\/metrics$/, '');
    expect(await probe(`${base}/healthz`)).toBe(200);
    await waitUntil(async () => (await probe(`${base}/readyz`)) === 200, {
      timeoutMs: 10_000,
      what: 'the runtime ready (registered, socket open)',
    });

    const admin = env.admin();
    const sessionFile = path.join(home, 'session', 'global.jsonl');
    const turnEnds = async () =>
      (await readFile(sessionFile, 'utf8').catch(() => ''))
        .split('\n')
        .filter((l) => l.includes('"custom.turn_end"')).length;
    const say = async (content: string, expectedTurnEnds: number) => {
      await admin.post('/v1/messages', { content, to: ['scribe'] });
      await waitUntil(async () => (await turnEnds()) >= expectedTurnEnds, {
        timeoutMs: 20_000,
        what: `the turn for "${content}"`,
      });
    };
    double.reply({ text: 'noted one', usage: { input_tokens: 1_000, output_tokens: 10 } });
    await say('first', 1);
    double.reply({ text: 'noted two', usage: { input_tokens: 24_000, output_tokens: 10 } });
    double.reply({ text: 'SUMMARY: first and second.', usage: { input_tokens: 500, output_tokens: 20 } });
    await say('second', 2);
    const compaction = await waitUntil(
      async () =>
        (await readFile(sessionFile, 'utf8'))
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { kind: string; payload: { tokens_after?: number } })
          .find((l) => l.kind === 'compaction'),
      { timeoutMs: 20_000, what: 'the compaction' },
    );
    double.fail(400);
    await say('third', 3);

    const aspect = { aspect: 'scribe' };
    const scrape = await waitUntil(
      async () => {
        const s = await scrapeMetrics(metricsUrl);
        return s.sample('nexus_turns_total', { ...aspect, reason: 'error' }) === 1 ? s : null;
      },
      { timeoutMs: 10_000, what: 'the failed turn counted' },
    );
    const s = scrape.value;
    expect(s.sample('nexus_turns_total', { ...aspect, reason: 'done' })).toBe(2);
    expect(s.sample('nexus_turn_seconds_count', aspect)).toBe(3);
    expect(
      s.sample('nexus_provider_requests_total', { ...aspect, provider: 'claude-api', outcome: 'ok' }),
    ).toBe(3);
    expect(
      s.sample('nexus_provider_requests_total', {
        ...aspect,
        provider: 'claude-api',
        outcome: 'invalid_request',
      }),
    ).toBe(1);
    expect(s.sample('nexus_provider_latency_seconds_count', { ...aspect, provider: 'claude-api' })).toBe(4);
    expect(s.sample('nexus_provider_tokens_total', { ...aspect, direction: 'input' })).toBe(25_500);
    expect(s.sample('nexus_provider_tokens_total', { ...aspect, direction: 'output' })).toBe(40);
    // claude-sonnet-4-5: 3 USD per million input tokens, 15 per million output (B.19).
    expect(s.sample('nexus_provider_cost_usd_total', aspect)).toBeCloseTo((25_500 * 3 + 40 * 15) / 1e6, 12);
    expect(s.sample('nexus_compactions_total', aspect)).toBe(1);
    expect(s.sample('nexus_session_context_ratio', aspect)).toBeCloseTo(
      (compaction.value.payload.tokens_after as number) / 30_000,
      12,
    );
    // Bounded labels: aspect, provider kind and outcome only; never a thread, message or model id.
    for (const labels of s.labelSets('nexus_provider_requests_total'))
      expect(Object.keys(labels).sort()).toEqual(['aspect', 'outcome', 'provider']);
    for (const labels of s.labelSets('nexus_turns_total'))
      expect(Object.keys(labels).sort()).toEqual(['aspect', 'reason']);

    // Ready means registered with the socket open: a stayed-down runtime is alive but not ready.
    await admin.post('/v1/admin/aspects/scribe/shutdown');
    await waitUntil(async () => (await probe(`${base}/readyz`)) === 503, {
      timeoutMs: 10_000,
      what: 'the stayed-down runtime unready',
    });
    expect(await probe(`${base}/healthz`)).toBe(200);
  }, 90_000);

  it('the worker exports its Hand runs and the provider series of the Hands it runs, by hosting aspect', async () => {
    const { double, broker } = env;
    const admin = env.admin();
    await admin.call('PUT', '/v1/credentials/anthropic', { value: 'sk-ant-worker-metrics' });
    await admin.post('/v1/credentials/anthropic/grants', { aspect: 'helper' });
    const { token } = await mintAspectToken(admin, 'helper');
    await new BrokerClient({ url: broker.url, token }).post(
      '/v1/aspects/register',
      registerBody('helper', randomUUID(), {
        provider: { kind: 'claude-api', model: 'claude-haiku-4-5', base_url: double.url },
        hands: [{ name: 'work', description: 'does work', timeout_s: 60 }],
      }),
    );
    const { token: workerToken } = await admin.post<{ token: string }>('/v1/admin/tokens', {
      kind: 'worker',
      name: 'pool',
    });
    const worker = startWorkerProcess({ url: broker.url, token: workerToken });
    processes.push(worker);
    const metricsUrl = await worker.metricsUrl();
    const base = metricsUrl.replace(/\/metrics$/, '');
    await waitUntil(async () => (await probe(`${base}/readyz`)) === 200, {
      timeoutMs: 10_000,
      what: 'the worker ready (its last claim reached the broker)',
    });

    double.reply({ text: 'hand done', usage: { input_tokens: 2_000, output_tokens: 100 } });
    const { dispatch_id } = await admin.post<DispatchReply>('/v1/hands/dispatch', {
      target: 'helper',
      hand: 'work',
      content: 'do it',
    });
    await waitUntil(
      async () => (await admin.get<DispatchInfo>(`/v1/hands/dispatches/${dispatch_id}`)).state === 'done',
      {
        timeoutMs: 20_000,
        what: 'the Hand done',
      },
    );
    const s = (
      await waitUntil(
        async () => {
          const scrape = await scrapeMetrics(metricsUrl);
          return scrape.sample('nexus_hand_run_seconds_count', { status: 'ok' }) === 1 ? scrape : null;
        },
        { timeoutMs: 10_000, what: 'the run counted' },
      )
    ).value;
    const aspect = { aspect: 'helper' };
    expect(
      s.sample('nexus_provider_requests_total', { ...aspect, provider: 'claude-api', outcome: 'ok' }),
    ).toBe(1);
    expect(s.sample('nexus_provider_latency_seconds_count', { ...aspect, provider: 'claude-api' })).toBe(1);
    expect(s.sample('nexus_provider_tokens_total', { ...aspect, direction: 'input' })).toBe(2_000);
    expect(s.sample('nexus_provider_tokens_total', { ...aspect, direction: 'output' })).toBe(100);
    // claude-haiku-4-5: 1 USD per million input tokens, 5 per million output (B.19).
    expect(s.sample('nexus_provider_cost_usd_total', aspect)).toBeCloseTo((2_000 * 1 + 100 * 5) / 1e6, 12);
    expect(await probe(`${base}/healthz`)).toBe(200);
  }, 60_000);

  it('a default metrics port already taken is a warning: the runtime and the worker run without it', async () => {
    const releases = await Promise.all([holdPort(9464), holdPort(9465)]);
    try {
      const admin = env.admin();
      const { token } = await mintAspectToken(admin, 'crowded');
      const home = await writeHome({
        'aspect.json': { name: 'crowded', context_mode: 'global', provider: { kind: 'scripted' } },
      });
      const runtime = startAgentProcess({ home, url: env.broker.url, token, metricsPort: null });
      processes.push(runtime);
      await runtime.waitForLog('metrics port 9464 is in use');
      await runtime.waitForLog('"registered"');

      const { token: workerToken } = await admin.post<{ token: string }>('/v1/admin/tokens', {
        kind: 'worker',
        name: 'crowded-pool',
      });
      const worker = startWorkerProcess({ url: env.broker.url, token: workerToken, metricsPort: null });
      processes.push(worker);
      await worker.waitForLog('metrics port 9465 is in use');
      await worker.waitForLog('worker started');
      expect(await runtime.stop()).toBe(0);
      expect(await worker.stop()).toBe(0);
      expect(runtime.logs() + worker.logs()).not.toContain('"metricsUrl"');
    } finally {
      await Promise.all(releases.map((release) => release()));
    }
  });

  it('METRICS_PORT=0 turns metrics off; HEALTH_PORT then serves /healthz and /readyz alone', async () => {
    const admin = env.admin();
    const { token } = await mintAspectToken(admin, 'quiet');
    const home = await writeHome({
      'aspect.json': { name: 'quiet', context_mode: 'global', provider: { kind: 'scripted' } },
    });
    const port = await freePort();
    const runtime = startAgentProcess({
      home,
      url: env.broker.url,
      token,
      metricsPort: null,
      env: { METRICS_PORT: '0', HEALTH_PORT: String(port) },
    });
    processes.push(runtime);
    await runtime.waitForLog('"healthUrl"');
    const base = `http://127.0.0.1:${port}`;
    expect(await probe(`${base}/healthz`)).toBe(200);
    await waitUntil(async () => (await probe(`${base}/readyz`)) === 200, {
      timeoutMs: 10_000,
      what: 'the runtime ready',
    });
    expect(await probe(`${base}/metrics`)).toBe(404);
    expect(runtime.logs()).not.toContain('"metricsUrl"');
    expect(await runtime.stop()).toBe(0);
  });
});
