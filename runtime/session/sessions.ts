/**
 * The aspect's open sessions by context mode (SPEC section 7): `global` keeps one session for
 * everything, the active one named in `session/active` (`global`, or a global fork `fork-<id>` in
 * `session/forks/`, B.20); `thread` opens `session/threads/<thread_id>.jsonl` on a thread's first
 * message and closes it after `idleReapS` without use (the file stays; the next message reopens it
 * by replay).
 */
import path from 'node:path';
import { SessionFile, type SessionProblem } from './session-file.js';
import { globalSessionFile, readActiveSession, writeActiveSession } from './active-session.js';

export type ContextMode = 'global' | 'thread' | 'stateless';

export class Sessions {
  private readonly open = new Map<string, { session: SessionFile; usedAt: number }>();
  /** The active global session, read from `session/active` on first use. */
  private activeGlobal: string | null = null;

  constructor(
    private readonly home: string,
    private readonly mode: ContextMode,
    private readonly onProblem: (problem: SessionProblem) => void,
  ) {}

  /** The session id for a thread: the active global session in global mode, the thread id in thread mode. */
  async sidFor(threadId: string): Promise<string> {
    return this.mode === 'thread' ? threadId : this.active();
  }

  /** `global` or `fork-<id>`: the global session that takes every turn in global mode. */
  async active(): Promise<string> {
    this.activeGlobal ??= await readActiveSession(this.home, this.onProblem);
    return this.activeGlobal;
  }

  /** Makes a global session (`global` or `fork-<id>`) the active one, durably. */
  async activate(sid: string): Promise<void> {
    await writeActiveSession(this.home, sid);
    this.activeGlobal = sid;
  }

  fileFor(sid: string): string {
    return globalSessionFile(this.home, sid) ?? path.join(this.home, 'session', 'threads', `${sid}.jsonl`);
  }

  /** The session that handles `threadId`, opened (with repair) on first use. */
  async forThread(threadId: string): Promise<SessionFile> {
    return this.get(await this.sidFor(threadId));
  }

  /** Starts holding a session made elsewhere (a fork just written), so it is not read back. */
  adopt(sid: string, session: SessionFile): void {
    this.open.set(sid, { session, usedAt: Date.now() });
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

  /**
   * Closes and forgets thread sessions unused for longer than `idleMs`; their files stay, and the
   * next message of the thread reopens one by replay. The caller runs it between turns only: a
   * session taken by a turn must not be reopened beside the instance the turn still writes to.
   */
  async reap(idleMs: number, now = Date.now()): Promise<string[]> {
    if (this.mode !== 'thread') return [];
    const reaped: string[] = [];
    for (const [sid, held] of this.open) {
      if (now - held.usedAt > idleMs) {
        this.open.delete(sid);
        reaped.push(sid);
        await held.session.close();
      }
    }
    return reaped;
  }

  /** Closes every open session (at shutdown). */
  async closeAll(): Promise<void> {
    const held = [...this.open.values()];
    this.open.clear();
    for (const { session } of held) await session.close();
  }
}
