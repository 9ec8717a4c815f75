/**
 * The aspect's open sessions by context mode (SPEC section 7): `global` keeps one session for
 * everything; `thread` opens `session/threads/<thread_id>.jsonl` on a thread's first message and
 * closes it after `idleReapS` without use (the file stays; the next message reopens it by replay).
 */
import path from 'node:path';
import { SessionFile, type SessionProblem } from './session-file.js';

export type ContextMode = 'global' | 'thread' | 'stateless';

export class Sessions {
  private readonly open = new Map<string, { session: SessionFile; usedAt: number }>();

  constructor(
    private readonly home: string,
    private readonly mode: ContextMode,
    private readonly onProblem: (problem: SessionProblem) => void,
  ) {}

  /** The session id for a thread: `global` in global mode, the thread id in thread mode. */
  sidFor(threadId: string): string {
    return this.mode === 'thread' ? threadId : 'global';
  }

  fileFor(sid: string): string {
    return sid === 'global'
      ? path.join(this.home, 'session', 'global.jsonl')
      : path.join(this.home, 'session', 'threads', `${sid}.jsonl`);
  }

  /** The session that handles `threadId`, opened (with repair) on first use. */
  async forThread(threadId: string): Promise<SessionFile> {
    return this.get(this.sidFor(threadId));
  }

  async get(sid: string): Promise<SessionFile> {
    const held = this.open.get(sid);
    if (held) {
      held.usedAt = Date.now();
      return held.session;
    }
    const session = await SessionFile.open(this.fileFor(sid), { sid, onProblem: this.onProblem });
    this.open.set(sid, { session, usedAt: Date.now() });
    return session;
  }

  /** Every open session (for heartbeat stats). */
  all(): { sid: string; session: SessionFile }[] {
    return [...this.open].map(([sid, held]) => ({ sid, session: held.session }));
  }

  /** Forgets thread sessions idle for longer than `idleMs`; their files stay. */
  reap(idleMs: number, now = Date.now()): string[] {
    if (this.mode !== 'thread') return [];
    const reaped: string[] = [];
    for (const [sid, held] of this.open) {
      if (now - held.usedAt > idleMs) {
        this.open.delete(sid);
        reaped.push(sid);
      }
    }
    return reaped;
  }
}
