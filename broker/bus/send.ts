import {
  BROKER_SENDER,
  RESERVED_NAME_MESSAGE,
  WireError,
  type MessageKind,
  type SendReply,
  type SendRequest,
} from '../../protocol/index.js';
import type { Queryable } from '../db/pool.js';
import { withDatabaseRetry } from '../db/retry.js';
import type { Principal } from '../auth/principal.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { BrokerMetrics } from '../observability/broker-metrics.js';
import { persistMessage, type PersistResult } from './messages-sql.js';
import { bodyHash } from './canonical-json.js';

/** Where a persisted message must be announced: the local socket hub and the other replicas. */
export interface DeliveryAnnouncer {
  announce(message: { id: string; threadId: string; recipients: string[] }): void;
}

export interface SendOutcome {
  reply: SendReply;
  /** false for an idempotent repeat (HTTP 200 rather than 201). */
  created: boolean;
}

/** Extra fields only the broker itself may set (hand and system messages, B.11). */
export interface BrokerWrittenFields {
  kind: MessageKind;
  hand?: string;
}

/**
 * Sends messages: checks the caller's identity against the body, persists with the locks of B.1,
 * then announces the message for delivery after commit, with the turn-limit note the send may
 * have posted (B.83).
 */
export class MessageService {
  constructor(
    private readonly db: Queryable,
    private readonly announcer: DeliveryAnnouncer,
    private readonly audit: AuditLog,
    private readonly metrics: BrokerMetrics,
    /** NEXUS_THREAD_TURN_LIMIT: passed to every send, which keeps the count (B.83); 0 = off. */
    private readonly turnLimit: number,
  ) {}

  async send(
    caller: Principal,
    request: SendRequest,
    brokerWritten?: BrokerWrittenFields,
  ): Promise<SendOutcome> {
    if (caller.address === null) {
      this.audit.denied(caller, 'message.send', null, { reason: 'worker tokens cannot send messages' });
      throw new WireError('forbidden', 'worker tokens cannot send messages');
    }
    // B.84: a token minted for the reserved name before it was reserved still cannot speak as it.
    if (caller.kind === 'aspect' && caller.address === BROKER_SENDER) {
      this.audit.denied(caller, 'message.send', null, { reason: 'reserved name' });
      throw new WireError('forbidden', RESERVED_NAME_MESSAGE);
    }
    if (request.from !== undefined && request.from !== caller.address) {
      this.audit.denied(caller, 'message.send', request.from, { reason: 'identity_mismatch' });
      throw new WireError('identity_mismatch', `from: must be the caller (${caller.address}) or absent`);
    }
    const { idempotency_key: idempotencyKey, from: _from, ...body } = request;
    const kind = brokerWritten?.kind ?? 'chat';
    const persist = () =>
      persistMessage(this.db, {
        sender: caller.address as string,
        admin: caller.admin,
        threadId: request.thread_id ?? null,
        to: request.to ?? null,
        kind,
        hand: brokerWritten?.hand ?? null,
        content: request.content,
        input: request.input,
        replyTo: request.reply_to ?? null,
        traceparent: request.traceparent ?? null,
        idempotencyKey: idempotencyKey ?? null,
        // Only an idempotent repeat compares bodies: no key, no hash (canonical JSON of up to 1 MiB).
        bodyHash: idempotencyKey === undefined ? '' : bodyHash(body),
        removeSelf: brokerWritten === undefined,
        addParticipants: kind !== 'hand',
        turnLimit: this.turnLimit,
      });
    const result = await withDatabaseRetry(() => persistWithIdempotencyRace(persist)).catch(
      (err: unknown) => {
        const refusal = refusalFromDatabase(err);
        if (refusal?.code === 'forbidden' || refusal?.code === 'stay_down')
          this.audit.denied(caller, 'message.send', request.thread_id ?? null, { reason: refusal.message });
        throw refusal ?? err;
      },
    );
    if (!result.repeated) this.announce(result, kind);
    return { reply: toReply(result), created: !result.repeated };
  }

  /**
   * Persists a chat message the broker sends on an admin's behalf inside `tx` (a fork's seed,
   * B.50), so it commits with the work that caused it; call `announce` after `tx` commits. The
   * caller was checked when the request was made; refusals raised by `nexus_send` are thrown as
   * they come (`refusalFromDatabase` maps them).
   */
  async persistWithin(
    tx: Queryable,
    sender: { address: string; admin: boolean },
    message: { threadId: string | null; to: string[]; content: string },
  ): Promise<{ id: string; threadId: string; announce: () => void }> {
    const result = await persistMessage(tx, {
      sender: sender.address,
      admin: sender.admin,
      threadId: message.threadId,
      to: message.to,
      kind: 'chat',
      hand: null,
      content: message.content,
      input: undefined,
      replyTo: null,
      traceparent: null,
      idempotencyKey: null,
      bodyHash: '',
      removeSelf: true,
      addParticipants: true,
      turnLimit: this.turnLimit,
    });
    return { id: result.id, threadId: result.thread_id, announce: () => this.announce(result, 'chat') };
  }

  /** Counts and announces a committed message, and the turn-limit note it brought (B.83). */
  private announce(result: PersistResult, kind: MessageKind): void {
    this.metrics.messagesTotal.inc({ kind });
    this.announcer.announce({ id: result.id, threadId: result.thread_id, recipients: result.recipients });
    if (result.note_id === null) return;
    this.metrics.messagesTotal.inc({ kind: 'system' });
    this.announcer.announce({
      id: result.note_id,
      threadId: result.thread_id,
      recipients: result.note_recipients,
    });
  }
}

function toReply(result: PersistResult): SendReply {
  const reply: SendReply = {
    id: result.id,
    thread_id: result.thread_id,
    created_at: new Date(result.created_at).toISOString(),
  };
  if (result.held_for.length > 0) reply.held_for = result.held_for;
  return reply;
}

/** A concurrent repeat of an idempotency key fails on the unique key once the first commits; run it again. */
async function persistWithIdempotencyRace(persist: () => Promise<PersistResult>): Promise<PersistResult> {
  try {
    return await persist();
  } catch (err) {
    const e = err as { code?: string; constraint?: string };
    if (e.code === '23505' && e.constraint === 'idempotency_keys_pkey') return persist();
    throw err;
  }
}

const REFUSAL = /^nexus:([a-z_]+):(.*)$/s;

/** Maps a refusal raised inside `nexus_send` (SQLSTATE P0001, 'nexus:code:text') to a wire error. */
export function refusalFromDatabase(err: unknown): WireError | null {
  const e = err as { code?: string; message?: string; detail?: string };
  if (e?.code !== 'P0001' || typeof e.message !== 'string') return null;
  const match = REFUSAL.exec(e.message);
  if (!match) return null;
  const [, code, text] = match as unknown as [string, string, string];
  const detail = e.detail ? { reason: e.detail } : undefined;
  switch (code) {
    case 'not_found':
    case 'forbidden':
    case 'no_recipient':
    case 'conflict':
    case 'stay_down':
    case 'invalid_request':
      return new WireError(code, text, detail);
    default:
      return new WireError('internal', 'internal error');
  }
}
