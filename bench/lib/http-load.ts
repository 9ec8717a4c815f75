import http from 'node:http';

export interface LoadResult {
  requests: number;
  seconds: number;
  rate: number;
  /** Responses other than 200 during the measured window. */
  failures: number;
}

/**
 * Closed-loop GET load: `connections` keep-alive connections, each sending its next request when
 * the last response has been read. Requests completed during `warmupMs` are not counted.
 */
export async function httpLoad(options: {
  url: string;
  path: string;
  headers?: Record<string, string>;
  connections: number;
  durationMs: number;
  warmupMs: number;
}): Promise<LoadResult> {
  const target = new URL(options.path, options.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
  const get = () =>
    new Promise<number>((resolve, reject) => {
      const req = http.get(target, { agent, headers: options.headers ?? {} }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.setTimeout(10_000, () => req.destroy(new Error('request timed out')));
    });
  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const end = measureFrom + options.durationMs;
  let requests = 0;
  let failures = 0;
  const worker = async () => {
    while (performance.now() < end) {
      const status = await get();
      const now = performance.now();
      if (now >= measureFrom && now <= end) {
        if (status === 200) requests++;
        else failures++;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.connections }, worker));
  } finally {
    agent.destroy();
  }
  const seconds = options.durationMs / 1000;
  return { requests, seconds, rate: requests / seconds, failures };
}
