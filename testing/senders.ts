import type { TestAspect } from './aspects.js';
import { sleep } from './wait.js';

/** What a sender saw: the ids the broker acknowledged (`sent` or 2xx), and every other outcome counted. */
export interface SendLog {
  accepted: string[];
  /** Outcomes by name: `201`, `503`, `error:unavailable`, `socket closed`, `network` … */
  outcomes: Map<string, number>;
}

/** A send loop running in the background until `stop()`. */
export interface Sender {
  log: SendLog;
  /** Ends the loop after the send in flight and resolves with the log. */
  stop(): Promise<SendLog>;
}

/** The raw answer of `POST /v1/messages`: status, Retry-After and body (or `network` when no answer came). */
export async function postMessage(
  url: string,
  token: string,
  body: Record<string, unknown>,
): Promise<{ status: number | 'network'; retryAfter: string | null; body: unknown }> {
  try {
    const response = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    return {
      status: response.status,
      retryAfter: response.headers.get('retry-after'),
      body: text === '' ? undefined : JSON.parse(text),
    };
  } catch {
    return { status: 'network', retryAfter: null, body: undefined };
  }
}

/**
 * Streams messages to `to` over the aspect's socket, one at a time, in one thread. It follows
 * `aspect.socket` as the test replaces it (a reconnect to another replica) and waits while it is
 * not open; a send that fails is not retried, so only `sent` ids count as accepted.
 */
export function streamOverSocket(aspect: TestAspect, to: string[]): Sender {
  return runLoop(async (n, thread) => {
    const socket = aspect.socket;
    if (!socket?.isOpen) {
      await sleep(5);
      return { outcome: 'not open' };
    }
    try {
      const frame = await socket.send({ content: `${aspect.name} #${n}`, to, ...thread });
      if (frame.type === 'sent') return { outcome: 'sent', id: frame.id, threadId: frame.thread_id };
      return { outcome: frame.type === 'error' ? `error:${frame.code}` : `frame:${frame.type}` };
    } catch {
      return { outcome: 'socket closed' };
    }
  });
}

/** Streams messages to `to` with `POST /v1/messages` on `url`, one at a time, in one thread. */
export function streamOverHttp(aspect: TestAspect, url: string, to: string[]): Sender {
  return runLoop(async (n, thread) => {
    const reply = await postMessage(url, aspect.token, { content: `${aspect.name} #${n}`, to, ...thread });
    if (reply.status === 201) {
      const body = reply.body as { id: string; thread_id: string };
      return { outcome: '201', id: body.id, threadId: body.thread_id };
    }
    if (reply.status === 'network') await sleep(5);
    return { outcome: String(reply.status) };
  });
}

type Attempt = (
  n: number,
  thread: { thread_id?: string },
) => Promise<{ outcome: string; id?: string; threadId?: string }>;

function runLoop(attempt: Attempt): Sender {
  const log: SendLog = { accepted: [], outcomes: new Map() };
  let stopped = false;
  let threadId: string | undefined;
  const loop = (async () => {
    for (let n = 0; !stopped; n++) {
      const result = await attempt(n, threadId ? { thread_id: threadId } : {});
      log.outcomes.set(result.outcome, (log.outcomes.get(result.outcome) ?? 0) + 1);
      if (result.id) log.accepted.push(result.id);
      threadId ??= result.threadId;
    }
  })();
  return {
    log,
    async stop() {
      stopped = true;
      await loop;
      return log;
    },
  };
}
