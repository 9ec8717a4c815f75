import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { BrokerClient } from '../../client/index.js';
import { createLogger } from '../../platform/index.js';
import { isTransient, retryingPoster } from './broker-retry.js';

/** A stand-in for a gateway in front of the broker (an ingress): answers from a list, then 201. */
async function startGateway(answers: { status: number; body?: unknown }[]) {
  const bodies: unknown[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(text));
      const answer = answers.shift() ?? { status: 201, body: { id: '1', thread_id: '1' } };
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body === undefined ? 'Bad Gateway' : JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, bodies, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A logger whose lines the test can read. */
function recordingLogger() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  return { logger: createLogger({ name: 'test', level: 'warn', destination }), lines };
}

const body = { content: 'hi', idempotency_key: '01J0000000000000000000000A:call_1' };

describe('broker calls from a turn (B.110)', () => {
  it('retries a gateway 502 and 503 with the same body, idempotency key included, until it succeeds', async () => {
    const gateway = await startGateway([{ status: 502 }, { status: 503 }]);
    const { logger, lines } = recordingLogger();
    try {
      const poster = retryingPoster(
        new BrokerClient({ url: gateway.url, token: 't' }),
        { windowMs: 10_000, firstDelayMs: 10 },
        logger,
      );
      await expect(poster.post('/v1/messages', body)).resolves.toEqual({ id: '1', thread_id: '1' });
      expect(gateway.bodies).toEqual([body, body, body]);
      expect(lines.filter((l) => l.includes('retrying'))).toHaveLength(2);
    } finally {
      await gateway.stop();
    }
  });

  it('never retries a 4xx: the broker decided', async () => {
    const refusal = { error: { code: 'forbidden', message: 'may not message x' } };
    const gateway = await startGateway([{ status: 403, body: refusal }]);
    const { logger } = recordingLogger();
    try {
      const poster = retryingPoster(
        new BrokerClient({ url: gateway.url, token: 't' }),
        { windowMs: 10_000, firstDelayMs: 10 },
        logger,
      );
      await expect(poster.post('/v1/messages', body)).rejects.toMatchObject({ code: 'forbidden' });
      expect(gateway.bodies).toHaveLength(1);
    } finally {
      await gateway.stop();
    }
  });

  it('counts a refused connection as transient and gives up when the window is spent', async () => {
    const gone = await startGateway([]);
    await gone.stop(); // nothing listens on the port any more
    const client = new BrokerClient({ url: gone.url, token: 't' });
    const refused = await client.post('/v1/messages', body).catch((err: unknown) => err);
    expect(isTransient(refused)).toBe(true);
    const { logger, lines } = recordingLogger();
    const poster = retryingPoster(client, { windowMs: 300, firstDelayMs: 20 }, logger);
    await expect(poster.post('/v1/messages', body)).rejects.toThrow('fetch failed');
    expect(lines.filter((l) => l.includes('ECONNREFUSED')).length).toBeGreaterThanOrEqual(2);
  });

  it('stops retrying when the turn is abandoned', async () => {
    const gone = await startGateway([]);
    await gone.stop();
    const abandon = new AbortController();
    const poster = retryingPoster(
      new BrokerClient({ url: gone.url, token: 't' }),
      { windowMs: 60_000 },
      recordingLogger().logger,
    );
    const call = poster.post('/v1/messages', body, abandon.signal);
    abandon.abort();
    // The call in flight is cut short too, and no further attempt is made.
    await expect(call).rejects.toThrow('This operation was aborted');
  });
});
