/**
 * Applies admin control requests to the aspect's sessions (SPEC section 7, B.12, B.20, B.48, B.50):
 * list_sessions, tree, rewind, compact, summarise-branch, fork and activate. Each mutating request
 * is recorded as `custom.control {request_id}` in the session it touches (a fork: its source;
 * activate: the session made active) before it is applied, and a request id already recorded is
 * refused, so a request is applied at most once. Every check runs before that record, so a refused
 * request changes nothing. Nothing is ever deleted.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import {
  ActivateRequest,
  CompactRequest,
  ForkParams,
  RewindRequest,
  SessionId,
  SummariseBranchRequest,
  firstIssueText,
  type SessionEntry,
} from '../../protocol/index.js';
import { SessionFile } from '../session/session-file.js';
import type { Sessions } from '../session/sessions.js';
import { globalSessionFile } from '../session/active-session.js';
import { checkForkSource, forkAncestry } from '../session/fork.pure.js';
import { ulidGenerator } from '../session/ulid.js';
import {
  compact,
  estimateTokens,
  summariseBranch,
  transcript,
  type SummariserDeps,
} from '../loop/compactor.js';
import { closeUnansweredToolCalls } from '../loop/turn.js';
import { buildContext } from '../session/context.pure.js';

export type ControlOutcome =
  { ok: true; result: unknown } | { ok: false; error: { code: string; message: string } };

export interface SessionControlDeps {
  home: string;
  sessions: Sessions;
  contextMode: 'global' | 'thread' | 'stateless';
  window: number;
  /** B.49's reserve: a forced compaction elides old tool results past window − reserve too. */
  reserveTokens: number;
  keepRecentTurns: number;
  tokensOf(sid: string): number;
  summariser: SummariserDeps;
}

class ControlRefusal extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const TreeParams = z.strictObject({
  sid: SessionId,
  after: z.string().optional(),
  limit: z.number().int().min(1).max(2000).default(500),
});

function parse<S extends z.ZodType>(schema: S, params: unknown): z.infer<S> {
  const result = schema.safeParse(params);
  if (!result.success) throw new ControlRefusal('invalid_request', firstIssueText(result.error));
  return result.data;
}

export async function applyControl(
  requestId: string,
  action: string,
  params: unknown,
  deps: SessionControlDeps,
): Promise<ControlOutcome> {
  try {
    return { ok: true, result: await dispatch(requestId, action, params, deps) };
  } catch (err) {
    if (err instanceof ControlRefusal) return { ok: false, error: { code: err.code, message: err.message } };
    return {
      ok: false,
      error: { code: 'conflict', message: err instanceof Error ? err.message : String(err) },
    };
  }
}

async function dispatch(
  requestId: string,
  action: string,
  params: unknown,
  deps: SessionControlDeps,
): Promise<unknown> {
  switch (action) {
    case 'list_sessions':
      return { sessions: await listSessions(deps) };
    case 'tree':
      return tree(parse(TreeParams, params), deps);
    case 'rewind':
      return rewind(requestId, parse(RewindRequest, params), deps);
    case 'compact':
      return forceCompaction(requestId, parse(CompactRequest, params), deps);
    case 'summarise-branch':
      return summariseBranchControl(requestId, parse(SummariseBranchRequest, params), deps);
    case 'fork':
      return fork(requestId, parse(ForkParams, params), deps);
    case 'activate':
      return activate(requestId, parse(ActivateRequest, params), deps);
    case 'shutdown':
      return { acknowledged: true };
    default:
      throw new ControlRefusal('invalid_request', `action: ${action} is not supported by this runtime yet`);
  }
}

/** The session a request names: the thread's in thread mode, else the active global session. */
async function sessionFor(
  threadId: string | undefined,
  deps: SessionControlDeps,
): Promise<{ sid: string; session: SessionFile }> {
  if (deps.contextMode === 'stateless')
    throw new ControlRefusal('conflict', 'a stateless aspect has no sessions');
  if (deps.contextMode === 'thread' && !threadId)
    throw new ControlRefusal('invalid_request', 'thread_id: is required in thread mode');
  const sid = deps.contextMode === 'thread' ? (threadId as string) : await deps.sessions.active();
  return { sid, session: await existingSession(sid, deps) };
}

/** Opens a session that exists on disk; never creates one for an unknown id. */
async function existingSession(sid: string, deps: SessionControlDeps): Promise<SessionFile> {
  if (!(await exists(deps.sessions.fileFor(sid))))
    throw new ControlRefusal('not_found', `session ${sid} does not exist`);
  return deps.sessions.get(sid);
}

/** Refuses a request this session has already applied (B.48). */
function assertNotApplied(session: SessionFile, requestId: string): void {
  if (session.entries.some((e) => e.kind === 'custom.control' && e.payload.request_id === requestId)) {
    throw new ControlRefusal('conflict', `control request ${requestId} was already applied`);
  }
}

/** Records the request in the session; refuses one already applied (B.48). */
async function record(session: SessionFile, requestId: string, action: string): Promise<void> {
  assertNotApplied(session, requestId);
  await session.append([{ kind: 'custom.control', payload: { request_id: requestId, action } }]);
}

async function rewind(requestId: string, body: z.infer<typeof RewindRequest>, deps: SessionControlDeps) {
  const { session } = await sessionFor(body.thread_id, deps);
  if (!session.has(body.target_entry_id))
    throw new ControlRefusal(
      'not_found',
      `target_entry_id: ${body.target_entry_id} is not an entry of this session`,
    );
  const oldHead = session.head;
  assertNotApplied(session, requestId);
  const departed =
    oldHead && !session.descendsFrom(body.target_entry_id, oldHead)
      ? firstAfter(session, body.target_entry_id, oldHead)
      : null;
  // B.50: the summary is made before anything is written, so a failed summary call changes nothing.
  const summary =
    body.emit_branch_summary && departed && oldHead
      ? await summariseBranch(session, departed, oldHead, deps.summariser)
      : null;
  await record(session, requestId, 'rewind');
  await session.moveHead(body.target_entry_id);
  await closeUnansweredToolCalls(session, 'abandoned by rewind');
  let branchSummaryId: string | undefined;
  if (summary !== null && departed) {
    const [entry] = await session.append([
      { kind: 'branch_summary', payload: { summary, from_entry_id: departed } },
    ]);
    branchSummaryId = entry?.id;
  }
  return { head: session.head, ...(branchSummaryId ? { branch_summary_id: branchSummaryId } : {}) };
}

/** The entry on the branch to `leaf` right after `ancestor` (the start of the departed branch). */
function firstAfter(session: SessionFile, ancestor: string, leaf: string): string | null {
  let current = session.get(leaf);
  let previous: SessionEntry | undefined;
  while (current) {
    if (current.id === ancestor) return previous?.id ?? null;
    previous = current;
    current = current.parentId === null ? undefined : session.get(current.parentId);
  }
  // The target is not on the old branch: the whole old branch was departed from its root.
  return previous?.id ?? null;
}

async function forceCompaction(
  requestId: string,
  body: z.infer<typeof CompactRequest>,
  deps: SessionControlDeps,
) {
  const { session } = await sessionFor(body.thread_id, deps);
  const context = buildContext(session.entries, session.head);
  const tokensBefore = deps.tokensOf(session.header.sid) || estimateTokens(transcript(context.entries, null));
  assertNotApplied(session, requestId);
  const result = await compact(session, deps.keepRecentTurns, tokensBefore, deps.summariser, {
    keptBudgetTokens: deps.window - deps.reserveTokens,
  });
  // Refused (or a failed summary call): nothing was written. Recorded only once it is applied.
  if (!result)
    throw new ControlRefusal(
      'conflict',
      `nothing to compact: the session has no more than ${deps.keepRecentTurns} turns`,
    );
  await record(session, requestId, 'compact');
  return {
    compaction_id: result.compactionId,
    tokens_before: result.tokensBefore,
    tokens_after: result.tokensAfter,
  };
}

async function summariseBranchControl(
  requestId: string,
  body: z.infer<typeof SummariseBranchRequest>,
  deps: SessionControlDeps,
) {
  const { session } = await sessionFor(body.thread_id, deps);
  if (!session.has(body.from_entry_id))
    throw new ControlRefusal(
      'not_found',
      `from_entry_id: ${body.from_entry_id} is not an entry of this session`,
    );
  const leaf =
    [...session.entries].reverse().find((e) => session.descendsFrom(e.id, body.from_entry_id))?.id ??
    body.from_entry_id;
  const summary = await summariseBranch(session, body.from_entry_id, leaf, deps.summariser);
  await record(session, requestId, 'summarise-branch');
  const [entry] = await session.append([
    { kind: 'branch_summary', payload: { summary, from_entry_id: body.from_entry_id } },
  ]);
  return { branch_summary_id: entry?.id };
}

/**
 * Fork (B.20, B.50). Thread mode: the copy becomes `session/threads/<new_thread_id>.jsonl`, the id
 * the broker reserved. Global mode: it becomes `session/forks/<id>.jsonl` (sid `fork-<id>`) and the
 * active global session. Tool calls left unanswered at the fork point are closed ("abandoned by
 * fork") in the copy, so its next turn neither repeats them nor sends an invalid request.
 */
async function fork(requestId: string, body: z.infer<typeof ForkParams>, deps: SessionControlDeps) {
  const threadMode = deps.contextMode === 'thread';
  if (threadMode && !body.new_thread_id)
    throw new ControlRefusal('invalid_request', 'new_thread_id: is required in thread mode');
  const { sid: sourceSid, session: source } = await sessionFor(body.thread_id, deps);
  const withSeed = body.seed_user_message !== undefined;
  const entry = source.get(body.source_entry_id);
  const refusal = checkForkSource(entry, body.source_entry_id, withSeed);
  if (refusal) throw new ControlRefusal(refusal.code, refusal.message);
  const sid = threadMode ? (body.new_thread_id as string) : `fork-${newForkId()}`;
  const file = deps.sessions.fileFor(sid);
  if (await exists(file)) throw new ControlRefusal('conflict', `session ${sid} already exists`);

  const copied = forkAncestry(source.entries, entry as SessionEntry, withSeed); // present: checked above
  await record(source, requestId, 'fork');
  const forked = await SessionFile.createFork(file, {
    sid,
    forkedFrom: { sid: sourceSid, entry_id: body.source_entry_id },
    entries: copied,
  });
  deps.sessions.adopt(sid, forked);
  await closeUnansweredToolCalls(forked, 'abandoned by fork');
  if (threadMode) return { thread_id: sid, head: forked.head };
  await deps.sessions.activate(sid);
  return { session: sid, head: forked.head };
}

const newForkId = ulidGenerator();

/** `activate {sid}` (B.12, B.50): makes `global` or a global fork the active global session. */
async function activate(requestId: string, body: z.infer<typeof ActivateRequest>, deps: SessionControlDeps) {
  if (deps.contextMode !== 'global')
    throw new ControlRefusal(
      'conflict',
      'activate: only an aspect in global context mode has a global session',
    );
  if (globalSessionFile(deps.home, body.sid) === null)
    throw new ControlRefusal(
      'invalid_request',
      `sid: ${body.sid} is a thread; activate takes global or fork-ID`,
    );
  const session = await existingSession(body.sid, deps);
  await record(session, requestId, 'activate');
  await deps.sessions.activate(body.sid);
  return { session: body.sid, head: session.head };
}

async function listSessions(deps: SessionControlDeps) {
  const files: { sid: string; file: string }[] = [];
  const global = path.join(deps.home, 'session', 'global.jsonl');
  if (await exists(global)) files.push({ sid: 'global', file: global });
  const forks = path.join(deps.home, 'session', 'forks');
  for (const name of (await readdir(forks).catch(() => [] as string[]))
    .filter((n) => /^[A-Za-z0-9]{1,64}\.jsonl$/.test(n))
    .sort()) {
    files.push({ sid: `fork-${name.slice(0, -'.jsonl'.length)}`, file: path.join(forks, name) });
  }
  const threads = path.join(deps.home, 'session', 'threads');
  for (const name of (await readdir(threads).catch(() => [] as string[]))
    .filter((n) => /^\d+\.jsonl$/.test(n))
    .sort()) {
    files.push({ sid: name.slice(0, -'.jsonl'.length), file: path.join(threads, name) });
  }
  const active = deps.contextMode === 'global' ? await deps.sessions.active() : null;
  const sessions = [];
  for (const { sid, file } of files) {
    const session = await deps.sessions.get(sid);
    sessions.push({
      sid,
      entries: session.entries.length,
      head: session.head,
      tokens: deps.tokensOf(sid),
      window: deps.window,
      updated_at: (await stat(file)).mtime.toISOString(),
      ...(sid === active ? { active: true } : {}),
    });
  }
  return sessions;
}

async function tree(params: z.infer<typeof TreeParams>, deps: SessionControlDeps) {
  const session = await existingSession(params.sid, deps);
  const start = params.after ? session.entries.findIndex((e) => e.id === params.after) + 1 : 0;
  const entries = [];
  let bytes = 0;
  for (const e of session.entries.slice(start, start + params.limit)) {
    const item = { id: e.id, parent_id: e.parentId, kind: e.kind, ts: e.ts, preview: preview(e) };
    bytes += Buffer.byteLength(JSON.stringify(item));
    // A shorter page rather than a reply past the socket's frame limit (B.48): ask again `after` it.
    if (entries.length > 0 && bytes > TREE_PAGE_BYTES) break;
    entries.push(item);
  }
  return { sid: params.sid, head: session.head, entries };
}

/** A tree page stays far below the 1 MiB frame limit whatever its previews hold. */
const TREE_PAGE_BYTES = 512 * 1024;

function preview(entry: SessionEntry): string {
  const payload = entry.payload as Record<string, unknown>;
  const text = ['content', 'summary', 'text'].map((k) => payload[k]).find((v) => typeof v === 'string') as
    string | undefined;
  return (text ?? JSON.stringify(payload)).slice(0, 200);
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
