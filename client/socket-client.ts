/**
 * A broker socket that stays connected: hello / welcome, reconnect with capped backoff, resume
 * after the last message id the caller processed, duplicates dropped by id, pings every heartbeat.
 *
 * States: `connecting` → `open` → (`connecting` again after a drop) … → `closed` (by `close()`, or
 * a close code that a retry cannot fix: 4401 bad token, 4403 stay-down, 4409 replaced).
 */
import { WebSocket } from 'ws';
import { ServerFrame, type Message, type SendRequest } from '../protocol/index.js';
import { networkReason } from './http-client.js';

/** Why a connection attempt failed before it opened: the upgrade refused with an HTTP status, or no connection. */
export type ConnectFailure = { status: number } | { reason: string };

export interface SocketClientOptions {
  url: string;
  token: string;
  instanceId?: string;
  mailbox?: boolean;
  /** The last id already processed: the resume point on the first connect. */
  resumeAfter?: string;
  onMessage?: (message: Message) => void;
  onFrame?: (frame: ServerFrame) => void;
  onClose?: (code: number) => void;
  /** Called when an attempt fails before the socket opens; the client retries unless closed. */
  onConnectFailure?: (failure: ConnectFailure) => void;
  /** Ack each message as soon as onMessage returns (default true). */
  autoAck?: boolean;
  maxBackoffMs?: number;
}

const FINAL_CLOSES = new Set([4401, 4403, 4409]);

export class SocketClient {
  private ws: WebSocket | null = null;
  private lastId = 0n;
  private state: 'connecting' | 'open' | 'closed' = 'connecting';
  private attempt = 0;
  private pingTimer: NodeJS.Timeout | null = null;
  private readonly pendingSends = new Map<
    string,
    { resolve: (f: ServerFrame) => void; reject: (e: Error) => void }
  >();
  private refCounter = 0;
  private openWaiters: (() => void)[] = [];
  /** How many times the socket (re)connected and got `welcome`. */
  connects = 0;
  lastCloseCode: number | null = null;

  constructor(private readonly options: SocketClientOptions) {
    if (options.resumeAfter) this.lastId = BigInt(options.resumeAfter);
    this.connect();
  }

  get lastMessageId(): string {
    return this.lastId.toString();
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Resolves when the socket is open (after welcome). */
  opened(): Promise<void> {
    if (this.state === 'open') return Promise.resolve();
    return new Promise((resolve) => this.openWaiters.push(resolve));
  }

  private connect(): void {
    const wsUrl = this.options.url.replace(/^http/, 'ws').replace(/\/$/, '') + '/v1/connect';
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${this.options.token}` } });
    this.ws = ws;
    let settled = false; // opened, or its failure reported: later errors are not connect failures
    const fail = (failure: ConnectFailure) => {
      if (settled) return;
      settled = true;
      this.options.onConnectFailure?.(failure);
    };
    // An upgrade answered with a status (401: the token; 503: no database) rather than 101.
    ws.on('unexpected-response', (_req, res) => {
      fail({ status: res.statusCode ?? 0 });
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => {
      settled = true;
      ws.send(
        JSON.stringify({
          type: 'hello',
          ...(this.options.instanceId ? { instance_id: this.options.instanceId } : {}),
          ...(this.options.mailbox ? { mailbox: true } : {}),
          ...(this.lastId > 0n ? { resume_after: this.lastId.toString() } : {}),
        }),
      );
    });
    ws.on('message', (data) => this.onData(data.toString()));
    ws.on('close', (code) => this.onClose(ws, code));
    ws.on('error', (err) => fail({ reason: networkReason(err) })); // a close always follows
  }

  private onData(text: string): void {
    const parsed = ServerFrame.safeParse(JSON.parse(text));
    if (!parsed.success) return;
    const frame = parsed.data;
    this.options.onFrame?.(frame);
    switch (frame.type) {
      case 'welcome': {
        this.state = 'open';
        this.attempt = 0;
        this.connects++;
        const interval = frame.heartbeat_interval_s * 1000;
        if (this.pingTimer) clearInterval(this.pingTimer);
        this.pingTimer = setInterval(() => this.raw({ type: 'ping' }), interval);
        for (const resolve of this.openWaiters.splice(0)) resolve();
        return;
      }
      case 'message': {
        const id = BigInt(frame.message.id);
        if (id <= this.lastId) return; // a duplicate after a resume
        this.options.onMessage?.(frame.message);
        this.lastId = id;
        if (this.options.autoAck !== false) this.raw({ type: 'ack', id: frame.message.id });
        return;
      }
      case 'sent':
      case 'error': {
        const ref = frame.ref;
        const waiter = ref ? this.pendingSends.get(ref) : undefined;
        if (ref && waiter) {
          this.pendingSends.delete(ref);
          waiter.resolve(frame);
        }
        return;
      }
      default:
        return;
    }
  }

  private onClose(ws: WebSocket, code: number): void {
    if (this.ws !== ws) return;
    this.lastCloseCode = code;
    if (this.pingTimer) clearInterval(this.pingTimer);
    for (const [ref, waiter] of this.pendingSends) {
      waiter.reject(new Error(`socket closed (${code}) before ${ref} was answered`));
    }
    this.pendingSends.clear();
    this.options.onClose?.(code);
    if (this.state === 'closed' || FINAL_CLOSES.has(code)) {
      this.state = 'closed';
      return;
    }
    this.state = 'connecting';
    const delay =
      Math.min(this.options.maxBackoffMs ?? 2000, 50 * 2 ** this.attempt++) * (0.5 + Math.random() / 2);
    setTimeout(() => {
      if (this.state !== 'closed') this.connect();
    }, delay);
  }

  /** Acknowledges processing up to `id` (when autoAck is off). */
  ack(id: string): void {
    this.raw({ type: 'ack', id });
  }

  /** Sends a frame as is (for tests and tools); false when the socket is not open and it was not sent. */
  raw(frame: unknown): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Sends a message and resolves with the `sent` or `error` frame. */
  send(message: SendRequest): Promise<ServerFrame> {
    const ref = `r${++this.refCounter}`;
    return new Promise((resolve, reject) => {
      this.pendingSends.set(ref, { resolve, reject });
      if (this.ws?.readyState !== WebSocket.OPEN || this.state !== 'open') {
        this.pendingSends.delete(ref);
        reject(new Error('socket is not open'));
        return;
      }
      this.ws.send(JSON.stringify({ type: 'send', ref, message }));
    });
  }

  /** Drops the connection without closing the client: it reconnects and resumes. */
  drop(): void {
    this.ws?.terminate();
  }

  close(): void {
    this.state = 'closed';
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.ws?.close(1000);
  }
}
