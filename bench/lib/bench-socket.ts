/**
 * A lean `/v1/connect` client for benchmarks: the same frames as client/SocketClient (hello,
 * send/sent, message, ack of every message), without reconnects and without schema-checking each
 * incoming frame, so the client's own CPU weighs as little as possible on the 2 shared cores. The
 * baselines use the same client, so what it costs is the same on both sides.
 */
import { WebSocket } from 'ws';

export interface BenchMessage {
  id: string;
  thread_id: string;
  from: string;
  content: string;
  created_at: string;
}

interface Frame {
  type: string;
  ref?: string;
  id?: string;
  thread_id?: string;
  code?: string;
  message?: BenchMessage | string;
  heartbeat_interval_s?: number;
}

export interface BenchSocketOptions {
  url: string;
  token?: string;
  instanceId?: string;
  resumeAfter?: string;
  /** Called for every `message` frame with the time it arrived (performance.now()). */
  onMessage?: (message: BenchMessage, at: number) => void;
  /** 'each' (default) acks every message as the shipped SocketClient does; 'none' never acks. */
  ack?: 'each' | 'none';
  /** Pings every heartbeat interval, for sockets held open longer than 30 s. */
  keepAlive?: boolean;
  timeoutMs?: number;
}

export class BenchSocket {
  /** performance.now() when hello went out. */
  helloAt = 0;
  received = 0;
  closeCode: number | null = null;
  errors: string[] = [];
  private refCounter = 0;
  private readonly pending = new Map<
    string,
    { resolve: (r: { id: string; thread_id: string }) => void; reject: (e: Error) => void }
  >();
  private pingTimer: NodeJS.Timeout | null = null;

  private constructor(
    private readonly ws: WebSocket,
    private readonly options: BenchSocketOptions,
  ) {}

  /** Opens the socket, sends hello and resolves on welcome (rejects on a close or the time limit). */
  static open(options: BenchSocketOptions): Promise<BenchSocket> {
    const wsUrl = options.url.replace(/^http/, 'ws').replace(/\/$/, '') + '/v1/connect';
    const ws = new WebSocket(wsUrl, {
      headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
    });
    const socket = new BenchSocket(ws, options);
    return new Promise<BenchSocket>((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error('no welcome within the time allowed'));
      }, options.timeoutMs ?? 15_000);
      ws.on('open', () => {
        socket.helloAt = performance.now();
        ws.send(
          JSON.stringify({
            type: 'hello',
            ...(options.instanceId ? { instance_id: options.instanceId } : {}),
            ...(options.resumeAfter !== undefined ? { resume_after: options.resumeAfter } : {}),
          }),
        );
      });
      ws.on('message', (data) => {
        const frame = JSON.parse(data.toString()) as Frame;
        if (frame.type === 'welcome') {
          clearTimeout(timer);
          if (options.keepAlive) {
            const interval = (frame.heartbeat_interval_s ?? 10) * 1000;
            socket.pingTimer = setInterval(() => socket.raw({ type: 'ping' }), interval);
          }
          resolve(socket);
          return;
        }
        socket.onFrame(frame);
      });
      ws.on('close', (code) => {
        clearTimeout(timer);
        socket.onClose(code);
        reject(new Error(`socket closed with ${code} before welcome`));
      });
      ws.on('error', () => undefined); // a close always follows
    });
  }

  private onFrame(frame: Frame): void {
    if (frame.type === 'message' && typeof frame.message === 'object' && frame.message !== undefined) {
      const at = performance.now();
      this.received++;
      this.options.onMessage?.(frame.message, at);
      if (this.options.ack !== 'none') this.raw({ type: 'ack', id: frame.message.id });
      return;
    }
    if (frame.type === 'sent' || frame.type === 'error') {
      const waiter = frame.ref ? this.pending.get(frame.ref) : undefined;
      if (frame.ref && waiter) {
        this.pending.delete(frame.ref);
        if (frame.type === 'sent') waiter.resolve({ id: frame.id ?? '', thread_id: frame.thread_id ?? '' });
        else waiter.reject(new Error(`send refused: ${frame.code}: ${String(frame.message)}`));
      } else if (frame.type === 'error') {
        this.errors.push(`${frame.code}: ${String(frame.message)}`);
      }
    }
  }

  private onClose(code: number): void {
    this.closeCode = code;
    if (this.pingTimer) clearInterval(this.pingTimer);
    for (const waiter of this.pending.values()) waiter.reject(new Error(`socket closed with ${code}`));
    this.pending.clear();
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  raw(frame: unknown): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  /** Sends a message; resolves with `sent` (id, thread_id), rejects on an `error` frame or a close. */
  send(message: Record<string, unknown>): Promise<{ id: string; thread_id: string }> {
    const ref = `r${++this.refCounter}`;
    return new Promise((resolve, reject) => {
      if (this.ws.readyState !== WebSocket.OPEN) {
        reject(new Error('socket is not open'));
        return;
      }
      this.pending.set(ref, { resolve, reject });
      this.ws.send(JSON.stringify({ type: 'send', ref, message }));
    });
  }

  close(): Promise<void> {
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.ws.terminate();
        resolve();
      }, 2000);
      this.ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.ws.close(1000);
    });
  }
}
