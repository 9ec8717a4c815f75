/**
 * One WebSocket on `/v1/connect`.
 *
 * States: `awaiting_hello` → `open` → (`shutting_down`) → `closed`.
 *   awaiting_hello --hello ok--> open          (welcome sent, mailbox pump started)
 *   awaiting_hello --bad token / no hello in time / not the registered instance or aspect down /
 *                  stayed down--> closed (4401 / 1008 / 4409 / 4403)
 *   open --close by peer, revocation (4401), replacement or deregistration (4409),
 *         flood (1008), silence (4408), database down (1013)--> closed
 *   open --stay-down--> shutting_down  (the `shutdown` control sent; nothing more is delivered)
 *   shutting_down --its control.result, or SHUTDOWN_ANSWER_MS without one--> closed (4403)
 *   (B.81: the runtime answers `{applied: true}` before the broker closes the socket)
 *
 * Delivery: the pump pushes mailbox rows with id > `delivered`, ascending, keeping at most `window`
 * unacked frames in flight (B.54). Acks move the stored cursor forward, coalesced per connection.
 */
import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import {
  CloseCode,
  WireError,
  type ClientFrame,
  type HelloFrame,
  type Message,
  type ServerFrame,
  type SubscribeFrame,
} from '../../protocol/index.js';
import { identityOf, type Principal } from '../auth/principal.js';
import { classifyDatabaseError } from '../db/retry.js';
import { advanceCursor, isParticipant, maxMessageId, readCursor, readMailbox } from '../bus/messages-sql.js';
import { registeredInstance } from '../roster/roster-sql.js';
import { parseClientFrame } from './frame-parsing.js';
import type { HubDeps } from './hub-deps.js';

type State = 'awaiting_hello' | 'open' | 'shutting_down' | 'closed';

const CURSOR_FLUSH_MS = 100;
/** How long a stayed-down runtime has to answer its `shutdown` control before the 4403 close. */
const SHUTDOWN_ANSWER_MS = 2000;
/** The `request_id` of the `shutdown` control: it has no control_requests row (B.15). */
const SHUTDOWN_REQUEST_ID = '0';

export class Connection {
  readonly id = randomUUID();
  readonly openedAt = Date.now();
  state: State = 'awaiting_hello';
  principal: Principal | null = null;
  /** The mailbox this socket drains: an aspect name or `op:NAME`; null for workers and plain admin sockets. */
  mailbox: string | null = null;
  /** The registered instance this aspect socket speaks for; null for every other socket. */
  instanceId: string | null = null;
  /**
   * When (performance.now()) the roster row that let this aspect socket in was read. A rights
   * check may judge the socket only by a read that started later, or it could act on a row older
   * than the one the hello saw.
   */
  rightCheckedAt = Infinity;
  subscription: { threads: Set<string> | '*'; observe: string | null } = {
    threads: new Set(),
    observe: null,
  };

  /** Highest message id pushed on this socket. */
  delivered = 0n;
  private acked = 0n;
  private readonly inflight: bigint[] = [];
  private pumping = false;
  private pumpAgain = false;
  private cursorTimer: NodeJS.Timeout | null = null;
  private cursorDirty = false;
  private lastSeen = Date.now();
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly ws: WebSocket,
    private readonly deps: HubDeps,
    private readonly headerPrincipal: Principal | null,
    private readonly headerToken: string | null,
    private readonly onOpen: (c: Connection) => void,
    private readonly onClosed: (c: Connection) => void,
  ) {
    ws.on('message', (data, isBinary) => {
      this.lastSeen = Date.now();
      void this.onFrame(isBinary ? null : data.toString());
    });
    ws.on('close', () => this.finish());
    ws.on('error', (err) => deps.logger.debug({ err }, 'socket error'));
    this.timers.push(
      setTimeout(() => {
        if (this.state === 'awaiting_hello') this.close(CloseCode.policy, 'no hello within the time allowed');
      }, deps.config.helloTimeoutS * 1000),
    );
    const heartbeatMs = deps.config.heartbeatS * 1000;
    this.timers.push(
      setInterval(() => {
        if (Date.now() - this.lastSeen > 3 * heartbeatMs)
          this.close(CloseCode.silent, 'silent for three heartbeat intervals');
      }, heartbeatMs),
    );
  }

  send(frame: ServerFrame): void {
    if (this.state === 'closed') return;
    this.ws.send(JSON.stringify(frame));
  }

  close(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.ws.close(code, reason);
    this.finish();
  }

  private finish(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    for (const timer of this.timers) clearTimeout(timer);
    if (this.cursorTimer) clearTimeout(this.cursorTimer);
    void this.flushCursor();
    this.onClosed(this);
  }

  private async onFrame(data: string | null): Promise<void> {
    if (this.state === 'closed') return;
    let frame: ClientFrame | null = null;
    let malformed: unknown = null;
    try {
      if (data === null) throw new WireError('invalid_request', '(root): frames must be text');
      frame = parseClientFrame(data);
    } catch (err) {
      malformed = err;
    }
    // Only well-formed ack, ping and pong are exempt (B.9): a flood of malformed frames is a flood too.
    const exempt = frame?.type === 'ack' || frame?.type === 'ping' || frame?.type === 'pong';
    const rateKey = this.principal?.tokenId ?? this.headerPrincipal?.tokenId ?? `conn:${this.id}`;
    if (!exempt && this.deps.wsRate.take(rateKey) > 0) {
      this.close(CloseCode.policy, 'frame rate limit exceeded');
      return;
    }
    if (frame === null) {
      this.sendError(malformed);
      return;
    }
    if (this.state === 'awaiting_hello' && frame.type !== 'hello') {
      this.sendError(new WireError('invalid_request', 'type: the first frame must be hello'));
      return;
    }
    try {
      switch (frame.type) {
        case 'hello':
          return await this.onHello(frame);
        case 'send':
          return await this.onSend(frame.ref, frame.message);
        case 'ack':
          return this.onAck(BigInt(frame.id));
        case 'subscribe':
          return await this.onSubscribe(frame);
        case 'ping':
          return this.send(frame.ts === undefined ? { type: 'pong' } : { type: 'pong', ts: frame.ts });
        case 'pong':
          return;
        case 'publish':
          return await this.deps.events.publish(this.principal as Principal, frame.event);
        case 'control.result':
          return await this.onControlResult(frame);
      }
    } catch (err) {
      this.sendError(err, frame.type === 'send' ? frame.ref : undefined);
    }
  }

  private sendError(err: unknown, ref?: string): void {
    if (err instanceof WireError) {
      this.send({ type: 'error', code: err.code, message: err.message, ...(ref ? { ref } : {}) });
      return;
    }
    if (classifyDatabaseError(err) === 'unavailable') {
      this.send({
        type: 'error',
        code: 'unavailable',
        message: 'the database is unreachable; retry shortly',
        ...(ref ? { ref } : {}),
      });
      return;
    }
    this.deps.logger.error({ err }, 'socket frame failed');
    this.send({ type: 'error', code: 'internal', message: 'internal error', ...(ref ? { ref } : {}) });
  }

  private async onHello(hello: HelloFrame): Promise<void> {
    if (this.state !== 'awaiting_hello')
      throw new WireError('invalid_request', 'type: hello was already received');
    if (hello.token !== undefined && this.headerToken !== null && hello.token !== this.headerToken) {
      return this.close(CloseCode.badToken, 'hello token differs from the header token');
    }
    let principal = this.headerPrincipal;
    if (!principal) {
      if (hello.token === undefined) return this.close(CloseCode.badToken, 'no token');
      try {
        principal = await this.deps.authenticator.authenticate(hello.token);
      } catch (err) {
        const unavailable = err instanceof WireError && err.code === 'unavailable';
        if (!unavailable) this.deps.audit.unknownToken(this.deps.remoteAddress(this.ws));
        return this.close(
          unavailable ? CloseCode.databaseDown : CloseCode.badToken,
          unavailable ? 'database unreachable' : 'bad token',
        );
      }
    }
    if (principal.kind === 'aspect') {
      if (!hello.instance_id) {
        this.sendError(new WireError('invalid_request', 'instance_id: is required for aspect tokens'));
        return this.close(CloseCode.policy, 'instance_id is required');
      }
      const registered = await registeredInstance(this.deps.db, principal.name);
      if (registered?.stay_down) return this.close(CloseCode.stayDown, 'stay-down');
      // Only the registered, live (or stale) instance: a deregistered one registers again first (B.89).
      if (!registered || registered.instance_id !== hello.instance_id || registered.status === 'down') {
        return this.close(CloseCode.duplicateInstance, 'not the registered instance');
      }
      this.rightCheckedAt = performance.now();
      this.instanceId = hello.instance_id;
      this.mailbox = principal.name;
    } else if (principal.kind === 'admin' && hello.mailbox) {
      this.mailbox = principal.address;
    }
    this.principal = principal;
    if (this.mailbox) {
      const stored = BigInt(await readCursor(this.deps.db, this.mailbox));
      this.acked = stored;
      this.delivered = stored;
      if (hello.resume_after !== undefined) {
        const requested = BigInt(hello.resume_after);
        if (requested > BigInt(await maxMessageId(this.deps.db))) {
          this.send({
            type: 'error',
            code: 'resume_ahead',
            message: 'resume_after is beyond the newest message; resuming from the stored ack',
          });
        } else {
          this.delivered = requested;
          this.acked = requested < stored ? requested : stored;
        }
      }
    }
    if (this.state !== 'awaiting_hello') return; // closed while we were reading
    this.state = 'open';
    this.onOpen(this);
    this.send({
      type: 'welcome',
      identity: identityOf(principal),
      heartbeat_interval_s: this.deps.config.heartbeatS,
      server_time: new Date().toISOString(),
    });
    void this.pump();
  }

  private async onSend(ref: string, message: Parameters<HubDeps['messages']['send']>[1]): Promise<void> {
    const outcome = await this.deps.messages.send(this.principal as Principal, message);
    this.send({ type: 'sent', ref, ...outcome.reply });
  }

  private onAck(id: bigint): void {
    if (!this.mailbox) return;
    const clamped = id > this.delivered ? this.delivered : id;
    if (clamped <= this.acked) return;
    this.acked = clamped;
    const wasFull = this.inflight.length >= this.deps.config.wsWindow;
    while (this.inflight.length > 0 && (this.inflight[0] as bigint) <= clamped) this.inflight.shift();
    this.cursorDirty = true;
    this.cursorTimer ??= setTimeout(() => {
      this.cursorTimer = null;
      void this.flushCursor();
    }, CURSOR_FLUSH_MS);
    if (wasFull) void this.pump();
  }

  private async flushCursor(): Promise<void> {
    if (!this.cursorDirty || !this.mailbox) return;
    this.cursorDirty = false;
    try {
      await advanceCursor(this.deps.db, this.mailbox, this.acked.toString());
    } catch (err) {
      this.cursorDirty = true; // try again with the next ack; a lost cursor only causes redelivery
      this.deps.logger.debug({ err }, 'cursor write failed');
    }
  }

  /**
   * Stay-down (B.15, B.81): sends the `shutdown` control, delivers nothing more, and closes with
   * 4403 once the runtime has answered it, or after SHUTDOWN_ANSWER_MS.
   */
  shutDown(): void {
    if (this.state !== 'open') return;
    this.state = 'shutting_down';
    this.send({
      type: 'control',
      request_id: SHUTDOWN_REQUEST_ID,
      action: 'shutdown',
      params: { reason: 'stay_down' },
    });
    this.timers.push(setTimeout(() => this.close(CloseCode.stayDown, 'stay-down'), SHUTDOWN_ANSWER_MS));
  }

  private async onControlResult(frame: Extract<ClientFrame, { type: 'control.result' }>): Promise<void> {
    if (this.state === 'shutting_down' && frame.request_id === SHUTDOWN_REQUEST_ID)
      return this.close(CloseCode.stayDown, 'stay-down');
    const principal = this.principal as Principal;
    if (principal.kind !== 'aspect')
      throw new WireError('forbidden', 'only the runtime of an aspect answers control requests');
    const outcome = frame.ok
      ? { ok: true as const, result: frame.result ?? null }
      : {
          ok: false as const,
          error: frame.error ?? { code: 'conflict', message: 'the runtime refused the request' },
        };
    await this.deps.control.finish(principal.name, frame.request_id, outcome);
  }

  private async onSubscribe(frame: SubscribeFrame): Promise<void> {
    const principal = this.principal as Principal;
    if ((frame.threads === '*' || frame.observe !== undefined) && !principal.admin) {
      this.deps.audit.denied(principal, 'socket.subscribe', frame.observe ?? '*');
      throw new WireError(
        'admin_required',
        frame.observe !== undefined ? 'observe: needs an admin token' : 'threads: "*" needs an admin token',
      );
    }
    const threads = frame.threads ?? [];
    if (threads !== '*' && !principal.admin) {
      for (const thread of threads) {
        if (!(await isParticipant(this.deps.db, thread, principal.address ?? ''))) {
          this.deps.audit.denied(principal, 'socket.subscribe', thread);
          throw new WireError('forbidden', `threads: not a participant of thread ${thread}`);
        }
      }
    }
    this.subscription = { threads: threads === '*' ? '*' : new Set(threads), observe: frame.observe ?? null };
    this.send({
      type: 'subscribed',
      threads: threads === '*' ? '*' : [...threads],
      ...(frame.observe ? { observe: frame.observe } : {}),
    });
  }

  /** Whether this socket's subscription shows messages of `threadId`. */
  watchesThread(threadId: string): boolean {
    const threads = this.subscription.threads;
    return threads === '*' || threads.has(threadId);
  }

  /** Pushes mailbox rows newer than `delivered`, within the in-flight window. */
  async pump(): Promise<void> {
    if (this.state !== 'open' || !this.mailbox) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        const room = this.deps.config.wsWindow - this.inflight.length;
        if (room <= 0) break;
        const messages = await readMailbox(this.deps.db, this.mailbox, this.delivered.toString(), room);
        this.push(messages);
        if (messages.length === room) this.pumpAgain = true;
      } while (this.pumpAgain && this.state === 'open');
    } catch (err) {
      this.deps.logger.debug({ err, mailbox: this.mailbox }, 'mailbox read failed; the poll will retry');
    } finally {
      this.pumping = false;
    }
  }

  private push(messages: Message[]): void {
    const now = Date.now();
    for (const message of messages) {
      const id = BigInt(message.id);
      if (id <= this.delivered || this.state !== 'open') continue;
      this.send({ type: 'message', message });
      this.delivered = id;
      this.inflight.push(id);
      this.deps.metrics.deliveriesTotal.inc();
      this.deps.metrics.deliverySeconds.observe(Math.max(0, now - Date.parse(message.created_at)) / 1000);
    }
  }
}
