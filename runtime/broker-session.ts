/**
 * The runtime's side of the broker: registration with capped exponential backoff and jitter
 * (forever, 30 s cap, B.15: a stayed-down aspect keeps retrying at the cap), heartbeats with
 * session stats, and a socket that resumes after the last processed id. A heartbeat answered
 * 409 (replaced or not registered) or a socket closed 4409/4403/4401 leads back to registration.
 * Registration refused with a 401 or a 403 identity_mismatch is permanent once `refusals` says so
 * (B.80): the session gives up and tells `onTokenRefused`. Ready means registered with the socket
 * open.
 *
 * Events published while the socket is down wait in a bounded outbox with their original `ts`
 * and go out, oldest first, when the next socket is welcomed (B.88); the acknowledgement position
 * is sent again then too, since an ack made while the socket was down went nowhere.
 */
import { WireError, type Message, type RegisterReply } from '../protocol/index.js';
import { BrokerClient, SocketClient } from '../client/index.js';
import { failureLine, type Logger, type TokenRefusals } from '../platform/index.js';
import type { AspectHome } from './home/home.js';
import { EventOutbox } from './event-outbox.js';

export interface BrokerSessionOptions {
  url: string;
  token: () => string;
  home: AspectHome;
  instanceId: string;
  runtimeVersion: string;
  logger: Logger;
  resumeAfter: () => string;
  onMessage: (message: Message) => void;
  /** A `control` frame from the broker (B.12); answer with `controlResult`. */
  onControl: (request: { request_id: string; action: string; params: unknown }) => void;
  stats: () => unknown;
  /** The tools this runtime offers, registered as the aspect's `tools` (B.58: roster capabilities). */
  offeredTools: string[];
  /** B.80: which registration refusals are permanent, and when. */
  refusals: TokenRefusals;
  /** Registration was refused for good (B.80): `line` names the cause and the token's source. */
  onTokenRefused: (line: string) => void;
  /** A socket was welcomed: the aspect is registered, live and not stayed down (B.81). */
  onConnected?: () => void;
  /**
   * Registration was accepted; runs before the socket opens (B.45: the database's identity). A
   * failure is a failed registration, retried with the same backoff.
   */
  onRegistered?: (reply: RegisterReply) => Promise<void>;
  maxBackoffMs?: number;
}

export class BrokerSession {
  readonly http: BrokerClient;
  private socket: SocketClient | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private registering: Promise<void> | null = null;
  private registered = false;
  /** Set when the broker refused the token for good: nothing is retried after it. */
  private refused = false;
  /** Aborted by stop(), so a register backoff ends at once. */
  private readonly stopSignal = new AbortController();
  private readonly outbox = new EventOutbox();

  constructor(private readonly options: BrokerSessionOptions) {
    this.http = new BrokerClient({ url: options.url, token: options.token });
  }

  get connected(): boolean {
    return this.socket?.isOpen ?? false;
  }

  /** Registered, with the socket open (what `/readyz` reports). */
  get ready(): boolean {
    return this.registered && this.connected;
  }

  /** Registers (retrying until it works) and opens the socket. */
  start(): Promise<void> {
    return this.reconnect();
  }

  private reconnect(): Promise<void> {
    this.registered = false;
    this.registering ??= this.registerUntilAccepted()
      .then(() => this.openSocket())
      .finally(() => {
        this.registering = null;
      });
    return this.registering;
  }

  private async registerUntilAccepted(): Promise<void> {
    const { home, instanceId, logger } = this.options;
    const cap = this.options.maxBackoffMs ?? 30_000;
    const body = {
      ...home.config,
      tools: this.options.offeredTools,
      instance_id: instanceId,
      pid: process.pid,
      started_at: new Date().toISOString(),
      runtime_version: this.options.runtimeVersion,
      identity: home.identity,
      ...(home.script !== undefined &&
      (home.config.provider.kind === 'scripted' || home.config.provider.offline)
        ? { script: home.script }
        : {}),
    };
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const reply = await this.http.post<RegisterReply>('/v1/aspects/register', body);
        if (this.stopped) return; // stop() ran meanwhile: no heartbeats, no socket
        await this.options.onRegistered?.(reply);
        this.options.refusals.accepted();
        this.registered = true;
        this.startHeartbeats(reply.heartbeat_interval_s);
        logger.info({ aspect: home.config.name }, 'registered');
        return;
      } catch (err) {
        const refusedForGood = this.options.refusals.check(err);
        if (refusedForGood !== null) {
          this.refused = true;
          this.options.onTokenRefused(refusedForGood);
          return;
        }
        const stayDown = err instanceof WireError && err.code === 'stay_down';
        const backoff = stayDown ? cap : Math.min(cap, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
        const delay = this.options.refusals.nextDelayMs(backoff);
        // One line per retry, without a stack (B.80).
        logger.warn({ err: failureLine(err), retryInMs: Math.round(delay) }, 'registration failed');
        await abortableSleep(delay, this.stopSignal.signal);
      }
    }
  }

  private openSocket(): void {
    if (this.stopped || this.refused) return;
    this.socket?.close();
    let token: string;
    try {
      token = this.options.token();
    } catch (err) {
      // The token file vanished between registration and here: registration reads it again.
      this.options.logger.warn({ err: failureLine(err) }, 'token unreadable; registering again');
      setTimeout(() => void this.reconnect(), 1000).unref();
      return;
    }
    const socket: SocketClient = new SocketClient({
      url: this.options.url,
      token,
      instanceId: this.options.instanceId,
      resumeAfter: this.options.resumeAfter(),
      autoAck: false,
      onMessage: this.options.onMessage,
      onFrame: (frame) => {
        if (frame.type === 'control') this.options.onControl(frame);
        if (frame.type === 'welcome') this.onWelcome();
      },
      onClose: (code) => {
        // Replaced, stayed down or refused token: the socket gives up; go back through registration.
        if (!this.stopped && [4401, 4403, 4409].includes(code)) setTimeout(() => void this.reconnect(), 1000);
      },
      // The upgrade refused with 401: the token this socket holds was revoked or rotated while it
      // was down. Registration reads the token again, and gives up as B.80 says if it stays refused.
      onConnectFailure: (failure) => {
        if (this.stopped || !('status' in failure) || failure.status !== 401) return;
        socket.close();
        void this.reconnect();
      },
    });
    this.socket = socket;
  }

  private startHeartbeats(intervalS: number): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => {
      this.http
        .post('/v1/aspects/heartbeat', { instance_id: this.options.instanceId, stats: this.options.stats() })
        .catch((err: unknown) => {
          if (err instanceof WireError && err.code === 'conflict') void this.reconnect();
          else this.options.logger.debug({ err: String(err) }, 'heartbeat failed');
        });
    }, intervalS * 1000);
  }

  /** Answers a control request (B.12). */
  controlResult(
    requestId: string,
    outcome: { ok: true; result: unknown } | { ok: false; error: { code: string; message: string } },
  ): void {
    this.socket?.raw({ type: 'control.result', request_id: requestId, ...outcome });
  }

  ack(id: string): void {
    this.socket?.ack(id);
  }

  /**
   * Publishes an observability event (B.9). `threadId` null marks an event of the global session
   * (B.88); undefined leaves it out. While the socket is down the event waits in the outbox.
   */
  publish(kind: string, threadId: string | null | undefined, data: Record<string, unknown>): void {
    const event = {
      kind,
      ts: new Date().toISOString(),
      ...(threadId === undefined ? {} : { thread_id: threadId }),
      data,
    };
    // Behind older unsent events, or with no welcomed socket, it waits its turn.
    if (this.outbox.size > 0 || !this.connected || !this.socket?.raw({ type: 'publish', event }))
      this.outbox.push(event);
  }

  /**
   * A socket was welcomed: send what waited (then one `error {dropped}` if the outbox overflowed),
   * then the ack position, then tell the runtime. Runs before the socket counts as connected, so
   * nothing published meanwhile can overtake the waiting events.
   */
  private onWelcome(): void {
    const socket = this.socket;
    const { events, dropped } = this.outbox.drain();
    if (dropped > 0) {
      this.options.logger.warn({ dropped }, 'events dropped while the socket was down (B.88)');
      events.push({
        kind: 'error',
        ts: new Date().toISOString(),
        data: { error: 'events dropped while the socket was down', dropped },
      });
    }
    const unsent = events.findIndex((event) => !socket?.raw({ type: 'publish', event }));
    // The socket died again mid-way: the rest wait for the next one.
    if (unsent >= 0) for (const event of events.slice(unsent)) this.outbox.push(event);
    const position = this.options.resumeAfter();
    if (position !== '0') socket?.ack(position);
    this.options.onConnected?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopSignal.abort();
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.socket?.close();
    await this.http
      .post('/v1/aspects/deregister', { instance_id: this.options.instanceId })
      .catch(() => undefined);
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
