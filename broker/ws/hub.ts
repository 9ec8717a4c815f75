/**
 * All sockets of this replica, and how they learn of new mail. Three paths wake a mailbox pump:
 * a send on this replica (at once), a NOTIFY hint from another replica (ids and names only), and
 * a poll every `pollMs` that asks the database which local mailboxes have anything newer. The
 * poll is what makes a lost hint cost latency, never a message.
 *
 * The same holds for an aspect socket's right to stay open (B.3, B.15, B.89): a stay-down, a new
 * instance or a deregistration closes it here at once, on other replicas by a `nexus_sockets`
 * hint, and, should that hint be lost, by the rights poll every `revokePollMs` that reads the
 * roster rows of all local aspect sockets in one query.
 */
import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import { CloseCode } from '../../protocol/index.js';
import type { Notifier } from '../db/notifier.js';
import type { Principal } from '../auth/principal.js';
import { mailboxesWithNewer, readMessagesByIds } from '../bus/messages-sql.js';
import { socketRights } from '../roster/roster-sql.js';
import type { DeliveryAnnouncer } from '../bus/send.js';
import type { SocketControl } from '../roster/registration.js';
import { readEventsByIds } from '../events/events-sql.js';
import { markControlDelivered, undeliveredControlRequests } from '../control/control-sql.js';
import { Connection } from './connection.js';
import type { HubDeps } from './hub-deps.js';

export const MESSAGE_CHANNEL = 'nexus_messages';
export const SOCKET_CHANNEL = 'nexus_sockets';
export const EVENT_CHANNEL = 'nexus_events';

export class SocketHub implements DeliveryAnnouncer, SocketControl {
  private readonly connections = new Set<Connection>();
  private readonly byMailbox = new Map<string, Connection>();
  private pollTimer: NodeJS.Timeout | null = null;
  private polling = false;
  /** Names this hub's message hints: the replica hears its own, and has shown those to observers already. */
  private readonly origin = randomUUID();
  private rightsTimer: NodeJS.Timeout | null = null;
  private checkingRights = false;
  private recheckRights = false;

  constructor(
    private readonly deps: HubDeps,
    private readonly notifier: Notifier,
  ) {}

  get size(): number {
    return this.connections.size;
  }

  /** Takes a socket that passed the upgrade; `principal` is set when the header carried a token. */
  accept(ws: WebSocket, principal: Principal | null, headerToken: string | null): void {
    const connection = new Connection(
      ws,
      this.deps,
      principal,
      headerToken,
      (c) => this.opened(c),
      (c) => this.closed(c),
    );
    this.connections.add(connection);
    this.deps.metrics.wsConnections.set(this.connections.size);
  }

  private opened(connection: Connection): void {
    if (!connection.mailbox) return;
    // A second socket of the same mailbox replaces the first, here and on every other replica (B.3).
    this.byMailbox.get(connection.mailbox)?.close(CloseCode.duplicateInstance, 'replaced by a newer socket');
    this.byMailbox.set(connection.mailbox, connection);
    this.notifier.notify(SOCKET_CHANNEL, {
      open: [`${connection.mailbox}\t${connection.id}\t${connection.openedAt}`],
    });
  }

  private closed(connection: Connection): void {
    this.connections.delete(connection);
    if (connection.mailbox && this.byMailbox.get(connection.mailbox) === connection)
      this.byMailbox.delete(connection.mailbox);
    this.deps.metrics.wsConnections.set(this.connections.size);
  }

  /** DeliveryAnnouncer: a message committed on this replica. */
  announce(message: { id: string; threadId: string; recipients: string[] }): void {
    this.wake(message.recipients);
    void this.showObservers([message.threadId], [message.id]);
    this.notifier.notify(MESSAGE_CHANNEL, {
      ids: [message.id],
      recipients: message.recipients,
      threads: [message.threadId],
      origin: [this.origin],
    });
  }

  /** SocketControl: a new instance registered; sockets of other instances close (4409). */
  instanceRegistered(aspect: string, instanceId: string): void {
    this.closeStaleInstance(aspect, instanceId);
    this.notifier.notify(SOCKET_CHANNEL, { registered: [`${aspect}\t${instanceId}`] });
  }

  /** Stay-down (B.15): the runtime is told to shut down, then its sockets close with 4403 everywhere. */
  stayDown(aspect: string): void {
    this.closeStayDown(aspect);
    this.notifier.notify(SOCKET_CHANNEL, { stay_down: [aspect] });
  }

  /**
   * An admin deregistered the aspect (B.89): its socket closes with 4409 everywhere, so its runtime
   * registers again. Each replica checks the roster first: the runtime may have done so already.
   */
  deregistered(aspect: string): void {
    void this.checkRights([aspect]);
    this.notifier.notify(SOCKET_CHANNEL, { down: [aspect] });
  }

  /** Handles a hint from `nexus_messages`. */
  onMessageHint(hint: Record<string, string[]>): void {
    if (hint.all) return void this.poll();
    // A socket already pushed past the hint's newest id has nothing new from it (per recipient, id
    // order is commit order, B.1). This skips a mailbox read per message on the sending replica,
    // which hears its own hints.
    const ids = (hint.ids ?? []).filter((id) => /^\d{1,19}$/.test(id)).map((id) => BigInt(id));
    const newest =
      ids.length > 0 && ids.length === (hint.ids ?? []).length ? ids.reduce((a, b) => (a > b ? a : b)) : null;
    this.wake(hint.recipients ?? [], newest);
    // Observers here saw this replica's messages as they were announced: once is enough.
    if (!hint.origin?.includes(this.origin)) void this.showObservers(hint.threads ?? [], hint.ids ?? []);
  }

  /** Handles a hint from `nexus_sockets`. */
  onSocketHint(hint: Record<string, string[]>): void {
    for (const item of hint.open ?? []) {
      const [mailbox, connId, openedAt] = item.split('\t');
      const local = mailbox ? this.byMailbox.get(mailbox) : undefined;
      if (local && local.id !== connId && local.openedAt <= Number(openedAt)) {
        local.close(CloseCode.duplicateInstance, 'replaced by a newer socket');
      }
    }
    for (const item of hint.registered ?? []) {
      const [aspect, instanceId] = item.split('\t');
      if (aspect && instanceId) this.closeStaleInstance(aspect, instanceId);
    }
    for (const aspect of hint.stay_down ?? []) this.closeStayDown(aspect);
    if (hint.down?.length) void this.checkRights(hint.down);
  }

  /** Handles a hint from `nexus_events`: forward to admins observing the aspect. */
  async onEventHint(hint: Record<string, string[]>): Promise<void> {
    const observers = [...this.connections].filter((c) => c.subscription.observe !== null);
    if (observers.length === 0 || !hint.ids?.length) return;
    try {
      for (const event of await readEventsByIds(this.deps.db, hint.ids)) {
        for (const c of observers) {
          if (c.subscription.observe === event.aspect) {
            const { id: _id, aspect, ...rest } = event;
            c.send({ type: 'event', aspect, event: rest });
          }
        }
      }
    } catch (err) {
      this.deps.logger.debug({ err }, 'event forward failed');
    }
  }

  /** Handles a hint from `nexus_control`: forward new requests we hold the socket for, wake waiters. */
  onControlHint(hint: Record<string, string[]>): void {
    void this.forwardControl(hint.ids ?? []);
    for (const id of hint.done ?? []) this.deps.control.wake(id);
  }

  /** Sends pending control requests to the runtimes whose sockets this replica holds. */
  async forwardControl(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    try {
      for (const request of await undeliveredControlRequests(this.deps.db, ids)) {
        const socket = this.byMailbox.get(request.aspect);
        if (!socket || socket.state !== 'open') continue;
        if (!(await markControlDelivered(this.deps.db, request.id))) continue;
        socket.send({
          type: 'control',
          request_id: request.id,
          action: request.action,
          params: request.params,
        });
        this.deps.control.wake(request.id);
      }
    } catch (err) {
      this.deps.logger.debug({ err }, 'control forward failed');
    }
  }

  private closeStaleInstance(aspect: string, instanceId: string): void {
    const local = this.byMailbox.get(aspect);
    if (local && local.instanceId !== instanceId)
      local.close(CloseCode.duplicateInstance, 'a newer instance registered');
  }

  private closeStayDown(aspect: string): void {
    this.byMailbox.get(aspect)?.shutDown();
  }

  /**
   * The rights poll (B.89): closes the local aspect sockets (of `only`, when given) that no longer
   * hold the right to be open: stayed down (4403), another instance registered, or deregistered
   * (4409). Judges only sockets let in before its read began; a check already running skips this
   * one, and the next poll comes within `revokePollMs`.
   */
  async checkRights(only?: readonly string[]): Promise<void> {
    if (this.checkingRights) {
      // The check under way may have read the rows before this change committed: run once more.
      this.recheckRights = true;
      return;
    }
    const readAt = performance.now();
    const sockets = [...this.byMailbox.values()].filter(
      (c) =>
        c.instanceId !== null &&
        c.rightCheckedAt < readAt &&
        (only === undefined || only.includes(c.mailbox as string)),
    );
    if (sockets.length === 0) return;
    this.checkingRights = true;
    try {
      const rows = await socketRights(
        this.deps.db,
        sockets.map((c) => c.mailbox as string),
      );
      const rights = new Map(rows.map((r) => [r.name, r]));
      for (const socket of sockets) {
        if (socket.state !== 'open') continue;
        const right = rights.get(socket.mailbox as string);
        if (right?.stay_down) socket.shutDown();
        else if (!right || right.instance_id !== socket.instanceId)
          socket.close(CloseCode.duplicateInstance, 'a newer instance registered');
        else if (right.status === 'down') socket.close(CloseCode.duplicateInstance, 'deregistered');
      }
    } catch (err) {
      this.deps.logger.debug({ err }, 'socket rights check failed; the next poll retries');
    } finally {
      this.checkingRights = false;
      if (this.recheckRights) {
        this.recheckRights = false;
        void this.checkRights();
      }
    }
  }

  /** Closes every socket authenticated with a revoked token (4401). */
  closeForToken(tokenId: string): void {
    for (const c of this.connections)
      if (c.principal?.tokenId === tokenId) c.close(CloseCode.badToken, 'token revoked');
  }

  closeAll(code: number, reason: string): void {
    for (const c of [...this.connections]) c.close(code, reason);
  }

  /** Pumps the local mailboxes of `recipients`; with `newest`, only those not yet past it. */
  private wake(recipients: readonly string[], newest: bigint | null = null): void {
    for (const name of recipients) {
      const connection = this.byMailbox.get(name);
      if (connection && (newest === null || connection.delivered < newest)) void connection.pump();
    }
  }

  private async showObservers(threads: string[], ids: string[]): Promise<void> {
    const watchers = [...this.connections].filter(
      (c) => c.state === 'open' && threads.some((t) => c.watchesThread(t)),
    );
    if (watchers.length === 0 || ids.length === 0) return;
    try {
      for (const message of await readMessagesByIds(this.deps.db, ids)) {
        for (const c of watchers)
          if (c.watchesThread(message.thread_id)) c.send({ type: 'observed', message });
      }
    } catch (err) {
      this.deps.logger.debug({ err }, 'observed forward failed');
    }
  }

  /** One query for all local mailboxes: which have anything newer than what was pushed? */
  async poll(): Promise<void> {
    if (this.polling || this.byMailbox.size === 0) return;
    this.polling = true;
    try {
      const positions = [...this.byMailbox.values()].map((c) => ({
        recipient: c.mailbox as string,
        after: c.delivered.toString(),
      }));
      this.wake(await mailboxesWithNewer(this.deps.db, positions));
    } catch (err) {
      this.deps.logger.debug({ err }, 'mailbox poll failed');
    } finally {
      this.polling = false;
    }
  }

  start(): void {
    this.pollTimer = setInterval(() => void this.poll(), this.deps.config.pollMs);
    this.rightsTimer = setInterval(() => void this.checkRights(), this.deps.config.revokePollMs);
  }

  stop(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.rightsTimer) clearInterval(this.rightsTimer);
    this.closeAll(1001, 'broker shutting down');
  }
}
