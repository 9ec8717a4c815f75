/**
 * Control requests from the broker (B.12, B.48), held until the turn loop can apply them: between
 * turns, and between the provider calls of a running turn. Each is applied once, answered with
 * `control.result`, and, when it changed a session, published as an event (section 10).
 */
import { applyControl, type SessionControlDeps } from './session-control.js';

export interface ControlRequest {
  request_id: string;
  action: string;
  params: unknown;
}

type ControlOutcome = Awaited<ReturnType<typeof applyControl>>;

/** The event each state-changing control action publishes when it succeeds. */
const CONTROL_EVENTS: Record<string, string> = {
  rewind: 'rewind',
  fork: 'fork',
  compact: 'compaction',
  'summarise-branch': 'branch_summary',
  activate: 'activate',
};

export interface ControlQueueDeps {
  contextMode: SessionControlDeps['contextMode'];
  session: SessionControlDeps;
  answer(requestId: string, outcome: ControlOutcome): void;
  publish(kind: string, threadId: string | null, data: Record<string, unknown>): void;
  /** A forced compaction happened: it counts as an automatic one does (stats, metrics). */
  compacted(): void;
}

export class ControlQueue {
  private readonly waiting: ControlRequest[] = [];

  constructor(private readonly deps: ControlQueueDeps) {}

  get pending(): boolean {
    return this.waiting.length > 0;
  }

  push(request: ControlRequest): void {
    this.waiting.push(request);
  }

  /**
   * Applies the requests that have arrived. True when one was a rewind or fork of the session of
   * the turn in progress (`turnThreadId`; null between turns), which ends that turn (B.48).
   */
  async applyPending(turnThreadId: string | null): Promise<boolean> {
    let endsTurn = false;
    for (const request of this.waiting.splice(0)) {
      const outcome = await applyControl(
        request.request_id,
        request.action,
        request.params,
        this.deps.session,
      );
      this.deps.answer(request.request_id, outcome);
      this.publish(request, outcome);
      const thread = (request.params as { thread_id?: unknown } | null)?.thread_id;
      const ofThisTurn = this.deps.contextMode === 'global' || thread === turnThreadId;
      if (outcome.ok && turnThreadId !== null && ofThisTurn && ['rewind', 'fork'].includes(request.action))
        endsTurn = true;
    }
    return endsTurn;
  }

  /** Session changes made by control are events too (SPEC section 10: rewind, fork, compaction). */
  private publish(request: ControlRequest, outcome: ControlOutcome): void {
    const kind = CONTROL_EVENTS[request.action];
    if (!kind || !outcome.ok) return;
    if (kind === 'compaction') this.deps.compacted();
    const params = (request.params ?? {}) as { thread_id?: string };
    // B.88: the thread of the session it changed; null for the global session.
    this.deps.publish(kind, params.thread_id ?? null, {
      request_id: request.request_id,
      ...(outcome.result as Record<string, unknown>),
    });
  }
}
