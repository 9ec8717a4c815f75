/**
 * A bare WebSocket on `/v1/connect` for tests that speak the wire frame by frame: it records every
 * frame and the close, and never reconnects (unlike `SocketClient`, which hides exactly what
 * these tests look at).
 */
import { WebSocket } from 'ws';

/** A frame as received: a parsed JSON object (the broker sends nothing else). */
export type ReceivedFrame = Record<string, unknown> & { type: string };

export interface RawSocket {
  /** Every frame received so far, in order. */
  readonly frames: ReceivedFrame[];
  /** Resolves with the close code and reason once the socket is closed (by either side). */
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly isOpen: boolean;
  /** Sends `frame` as JSON text. */
  send(frame: unknown): void;
  /** Sends text or binary data as is. */
  sendData(data: string | Buffer): void;
  /** The first frame at index `from` or later that matches; rejects if the socket closes first. */
  waitFor(
    match: (frame: ReceivedFrame) => boolean,
    options?: { from?: number; what?: string },
  ): Promise<ReceivedFrame>;
  /** Sends a `ping` with a unique `ts` and waits for its `pong`: proof the socket is open and served. */
  roundTrip(): Promise<void>;
  close(): void;
}

const WAIT_LIMIT_MS = 15_000;
/** Round-trip pings carry large ids, so they do not collide with the small `ts` values tests send. */
let pingCounter = 1_000_000_000;

/** Opens a socket (with `token` in the Authorization header, if given) and resolves once it is open. */
export function openRawSocket(url: string, token: string | null): Promise<RawSocket> {
  const wsUrl = url.replace(/^http/, 'ws').replace(/\/$/, '') + '/v1/connect';
  const ws = new WebSocket(wsUrl, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  const frames: ReceivedFrame[] = [];
  const listeners = new Set<() => void>();
  let closeInfo: { code: number; reason: string } | null = null;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => {
      closeInfo = { code, reason: reason.toString() };
      resolve(closeInfo);
      for (const listener of listeners) listener();
    });
  });
  ws.on('message', (data) => {
    frames.push(JSON.parse(data.toString()) as ReceivedFrame);
    for (const listener of listeners) listener();
  });
  ws.on('error', () => undefined); // a close always follows

  const socket: RawSocket = {
    frames,
    closed,
    get isOpen() {
      return ws.readyState === WebSocket.OPEN;
    },
    send(frame) {
      ws.send(JSON.stringify(frame));
    },
    sendData(data) {
      ws.send(data);
    },
    waitFor(match, options = {}) {
      const what = options.what ?? 'a matching frame';
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = frames.slice(options.from ?? 0).find(match);
          if (found) return finish(() => resolve(found));
          if (closeInfo)
            return finish(() =>
              reject(
                new Error(
                  `socket closed (${closeInfo?.code} ${closeInfo?.reason}) before ${what}; frames: ${JSON.stringify(frames)}`,
                ),
              ),
            );
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`no ${what} within 15 s; frames: ${JSON.stringify(frames)}`))),
          WAIT_LIMIT_MS,
        );
        const finish = (settle: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          settle();
        };
        listeners.add(check);
        check();
      });
    },
    async roundTrip() {
      const ts = ++pingCounter;
      const from = frames.length;
      socket.send({ type: 'ping', ts });
      await socket.waitFor((f) => f.type === 'pong' && f.ts === ts, { from, what: `pong ${ts}` });
    },
    close() {
      ws.close(1000);
    },
  };

  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(socket));
    ws.once('unexpected-response', (_req, res) => {
      reject(new Error(`upgrade refused with HTTP ${res.statusCode}`));
      res.resume();
      ws.terminate();
    });
    ws.once('close', () => reject(new Error('socket closed before it opened')));
  });
}
