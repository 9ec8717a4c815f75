/**
 * `nexus health`: the probe of the images' `HEALTHCHECK` (B.70). One broker image runs `nexus
 * broker`, `worker` and `operator`, each serving `/readyz` on its own port, and a Dockerfile has one
 * `HEALTHCHECK` line: so without `--port` the probe finds the port of the process beside it, from
 * the environment that process reads, else from the processes' default ports. In a container only
 * that process listens, so the first port that answers HTTP at all is its own and decides.
 *
 * Exit status (Docker's contract for a health check): 0 ready, 1 not ready or nothing answering.
 */

type Env = Record<string, string | undefined>;

/** The default ports: broker (`PORT`), runtime, worker and operator (`METRICS_PORT`, B.85). */
export const DEFAULT_HEALTH_PORTS = [7888, 9464, 9465, 9466];

/** Not ready, or nothing to ask: exit 1, which a `HEALTHCHECK` reads as unhealthy. */
export class NotReady extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotReady';
  }
}

/** A port from the environment, or null when unset, off (0) or not a port. */
function portFrom(value: string | undefined): number | null {
  if (value === undefined || !/^\d{1,5}$/.test(value)) return null;
  const port = Number(value);
  return port > 0 && port <= 65_535 ? port : null;
}

/**
 * The ports to try, in order: `METRICS_PORT` and `HEALTH_PORT` (runtime, worker, operator), `PORT`
 * (broker), then the defaults. A misspelt value is skipped rather than fatal: the defaults remain.
 */
export function candidatePorts(env: Env): number[] {
  const fromEnv = [env.METRICS_PORT, env.HEALTH_PORT, env.PORT].map(portFrom);
  const all = [...fromEnv, ...DEFAULT_HEALTH_PORTS].filter((p): p is number => p !== null);
  return [...new Set(all)];
}

/** Asks `/readyz` on one port: the status and the reason in its body, or null when nothing answers. */
async function ask(port: number, timeoutMs: number): Promise<{ ok: boolean; reason: string } | null> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let reason = text.trim().slice(0, 200);
    try {
      const body = JSON.parse(text) as { reason?: unknown };
      if (typeof body.reason === 'string') reason = body.reason;
    } catch {
      // Not JSON (not a nexus process?): the text itself is the reason.
    }
    return { ok: response.ok, reason: reason || `HTTP ${response.status}` };
  } catch {
    return null;
  }
}

/**
 * Probes `port`, or else each candidate port in turn until one answers. Resolves with the port
 * that said ready; rejects with `NotReady` naming the port and its reason, or the ports tried.
 */
export async function probeHealth(port: number | undefined, env: Env, timeoutMs = 3_000): Promise<number> {
  const ports = port === undefined ? candidatePorts(env) : [port];
  for (const candidate of ports) {
    const answer = await ask(candidate, timeoutMs);
    if (answer === null) continue;
    if (answer.ok) return candidate;
    throw new NotReady(`not ready on port ${candidate}: ${answer.reason}`);
  }
  throw new NotReady(
    ports.length === 1
      ? `nothing answers on port ${ports[0]}`
      : `nothing answers on ports ${ports.join(', ')}`,
  );
}
