/**
 * One session file on disk: `NAME.jsonl` (header + one entry per line) and `NAME.jsonl.head`.
 *
 * Durability (B.13): an append writes its lines and fdatasyncs the file before it resolves, so the
 * caller may then acknowledge the message that caused it; `.head` is rewritten in place without
 * fsync on ordinary appends (open repairs a stale one from the file), and replaced by rename and
 * fsynced with its folder only when the head moves backwards or sideways (rewind, fork). One fsync
 * per step. Both files stay open until `close()` (see session-fs.ts for why).
 *
 * Repair on open: a torn final line (no trailing newline) is copied to `FILE.torn` and truncated;
 * any other unparsable line is reported with file:line and skipped; nothing after it is lost. A bad
 * header line is rebuilt (B.82): from the session id the file is named for and the first entry's
 * `ts`, the bad line kept beside the file as `FILE.bad-header`. Only a header of a newer format
 * version is refused: this runtime cannot read that file, and must not rewrite it.
 */
import path from 'node:path';
import {
  HeadFile,
  SESSION_FORMAT_VERSION,
  SessionHeader,
  firstIssueText,
  parseSessionEntry,
  type SessionEntry,
} from '../../protocol/index.js';
import { nodeSessionFs, type SessionFs, type SessionWriter } from './session-fs.js';
import { ulidGenerator } from './ulid.js';

export interface SessionProblem {
  file: string;
  line: number;
  reason: string;
  /** Where a removed line was kept (`FILE.torn`, `FILE.bad-header`). */
  kept_as?: string;
}

/** An entry to append: the id, parent and time are filled in by the file. */
export type NewEntry = {
  [K in SessionEntry['kind']]: { kind: K; payload: Extract<SessionEntry, { kind: K }>['payload'] };
}[SessionEntry['kind']];

export interface OpenOptions {
  sid: string;
  fs?: SessionFs;
  /** Called for every repaired or skipped line. */
  onProblem?: (problem: SessionProblem) => void;
  forkedFrom?: { sid: string; entry_id: string };
  now?: () => Date;
}

export class SessionFile {
  private readonly byId: Map<string, SessionEntry>;
  private readonly nextId = ulidGenerator();
  private readonly writer: SessionWriter;

  private constructor(
    readonly file: string,
    readonly header: SessionHeader,
    readonly entries: SessionEntry[],
    private headId: string | null,
    private lineCount: number,
    private readonly fs: SessionFs,
    private readonly now: () => Date,
  ) {
    this.byId = new Map(entries.map((e) => [e.id, e]));
    this.writer = fs.openWriter(file);
  }

  get head(): string | null {
    return this.headId;
  }

  get lines(): number {
    return this.lineCount;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  get(id: string): SessionEntry | undefined {
    return this.byId.get(id);
  }

  /** Opens (or creates) a session file, repairing what a crash can leave behind. */
  static async open(file: string, options: OpenOptions): Promise<SessionFile> {
    const fs = options.fs ?? nodeSessionFs;
    const now = options.now ?? (() => new Date());
    const report = options.onProblem ?? (() => undefined);
    const create = async () => {
      const header: SessionHeader = {
        nexus_session: SESSION_FORMAT_VERSION,
        sid: options.sid,
        created_at: now().toISOString(),
        ...(options.forkedFrom ? { forked_from: options.forkedFrom } : {}),
      };
      await fs.mkdirp(path.dirname(file));
      await fs.writeDurably(file, `${JSON.stringify(header)}\n`);
      return new SessionFile(file, header, [], null, 1, fs, now);
    };
    let raw = await fs.readFileIfExists(file);
    if (raw === null || raw.length === 0) return create();

    const lastNewline = raw.lastIndexOf('\n');
    if (lastNewline !== raw.length - 1) {
      // A torn final line: keep a copy for inspection, then cut the file back to whole lines.
      await fs.copy(file, `${file}.torn`);
      // truncate() counts bytes, not UTF-16 code units: measure the kept text as UTF-8.
      await fs.truncate(file, Buffer.byteLength(raw.slice(0, lastNewline + 1), 'utf8'));
      report({
        file,
        line: raw.slice(0, lastNewline + 1).split('\n').length,
        reason: `torn final line copied to ${path.basename(file)}.torn and truncated`,
        kept_as: `${file}.torn`,
      });
      raw = raw.slice(0, lastNewline + 1);
      if (raw.length === 0) return create(); // the header itself was torn: nothing else was written
    }
    const lines = raw.split('\n').slice(0, -1);
    const read = readHeader(file, lines[0] as string);
    let header: SessionHeader;
    if ('header' in read) header = read.header;
    else {
      header = {
        nexus_session: SESSION_FORMAT_VERSION,
        sid: options.sid,
        created_at: firstEntryTs(lines, read.lineIsEntry) ?? now().toISOString(),
      };
      await repairHeader(fs, file, lines, header, read, report);
    }
    const entries: SessionEntry[] = [];
    const lineOf = new Map<string, number>();
    for (let i = 1; i < lines.length; i++) {
      const entry = parseLine(lines[i] as string);
      if (typeof entry === 'string') {
        report({ file, line: i + 1, reason: entry });
        continue;
      }
      if (lineOf.has(entry.id)) {
        report({ file, line: i + 1, reason: `duplicate entry id ${entry.id}; the first one is kept` });
        continue;
      }
      entries.push(entry);
      lineOf.set(entry.id, i + 1);
    }
    const session = new SessionFile(file, header, entries, null, lines.length, fs, now);
    session.headId = await session.recoverHead(lineOf);
    return session;
  }

  /**
   * Writes a fork (B.13, B.20): a header naming its origin and the copied entries, ids kept, in one
   * durable replace so a crash leaves either no fork or a whole one; then `.head` and its folder are
   * fsynced. Refuses a file that exists: a fork never overwrites a session.
   */
  static async createFork(
    file: string,
    options: {
      sid: string;
      forkedFrom: { sid: string; entry_id: string };
      entries: readonly SessionEntry[];
      fs?: SessionFs;
      now?: () => Date;
    },
  ): Promise<SessionFile> {
    const fs = options.fs ?? nodeSessionFs;
    const now = options.now ?? (() => new Date());
    if ((await fs.readFileIfExists(file)) !== null) throw new Error(`${file} already exists`);
    const header: SessionHeader = {
      nexus_session: SESSION_FORMAT_VERSION,
      sid: options.sid,
      created_at: now().toISOString(),
      forked_from: options.forkedFrom,
    };
    const entries = [...options.entries];
    await fs.mkdirp(path.dirname(file));
    await fs.replace(file, [header, ...entries].map((line) => `${JSON.stringify(line)}\n`).join(''), true);
    const head = entries.at(-1)?.id ?? null;
    const session = new SessionFile(file, header, entries, head, entries.length + 1, fs, now);
    await session.writeHead(head, true);
    return session;
  }

  /** B.13: trust `.head` unless it is missing, names no entry, or predates lines in the file. */
  private async recoverHead(lineOf: Map<string, number>): Promise<string | null> {
    const last = this.entries.at(-1)?.id ?? null;
    const rawHead = await this.fs.readFileIfExists(`${this.file}.head`);
    let parsed: HeadFile | null = null;
    try {
      const result = rawHead === null ? null : HeadFile.safeParse(JSON.parse(rawHead));
      parsed = result?.success ? result.data : null;
    } catch {
      parsed = null; // an unreadable .head is rebuilt from the file below
    }
    let head: string | null;
    if (!parsed || !this.byId.has(parsed.id)) head = last;
    else if (parsed.lines >= this.lineCount) head = parsed.id;
    else {
      const newer = this.entries.filter(
        (e) => (lineOf.get(e.id) ?? 0) > parsed.lines && this.descendsFrom(e.id, parsed.id),
      );
      head = newer.at(-1)?.id ?? parsed.id;
    }
    if (!parsed || parsed.id !== head || parsed.lines !== this.lineCount) await this.writeHead(head, false);
    return head;
  }

  /** Whether `id` is `ancestor` or below it. */
  descendsFrom(id: string, ancestor: string): boolean {
    const seen = new Set<string>();
    let current: SessionEntry | undefined = this.byId.get(id);
    while (current && !seen.has(current.id)) {
      if (current.id === ancestor) return true;
      seen.add(current.id);
      current = current.parentId === null ? undefined : this.byId.get(current.parentId);
    }
    return false;
  }

  /**
   * Appends entries as a chain under `parentId` (default: the head), makes the last one the head,
   * and resolves only after the lines are on disk (fdatasync).
   */
  async append(newEntries: NewEntry[], parentId: string | null = this.headId): Promise<SessionEntry[]> {
    if (newEntries.length === 0) return [];
    if (parentId !== null && !this.byId.has(parentId))
      throw new Error(`parent ${parentId} is not an entry of ${this.file}`);
    const ts = this.now().toISOString();
    let parent = parentId;
    const written: SessionEntry[] = newEntries.map((e) => {
      const entry = {
        id: this.nextId(),
        parentId: parent,
        ts,
        kind: e.kind,
        payload: e.payload,
      } as SessionEntry;
      parent = entry.id;
      return entry;
    });
    await this.writer.append(written.map((e) => `${JSON.stringify(e)}\n`).join(''));
    for (const entry of written) {
      this.entries.push(entry);
      this.byId.set(entry.id, entry);
    }
    this.lineCount += written.length;
    this.headId = (written.at(-1) as SessionEntry).id;
    await this.writeHead(this.headId, false);
    return written;
  }

  /** Moves the head to an existing entry (rewind), durably: `.head` and its folder are fsynced. */
  async moveHead(id: string): Promise<void> {
    if (!this.byId.has(id)) throw new Error(`entry ${id} is not in ${this.file}`);
    this.headId = id;
    await this.writeHead(id, true);
  }

  private async writeHead(id: string | null, durable: boolean): Promise<void> {
    if (id === null) return;
    const text = JSON.stringify({ id, lines: this.lineCount } satisfies HeadFile);
    await this.writer.writeHead(text, durable);
  }

  /** Closes the files held open for appends; a closed session reopens them if it is used again. */
  async close(): Promise<void> {
    await this.writer.close();
  }
}

/** Line 1 read as a header, or why it is not one (B.82: repaired unless a newer format wrote it). */
type HeaderRead = { header: SessionHeader } | { reason: string; lineIsEntry: boolean };

function readHeader(file: string, line: string): HeaderRead {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { reason: 'the header is not valid JSON', lineIsEntry: false };
  }
  const result = SessionHeader.safeParse(value);
  if (result.success) return { header: result.data };
  const version = (value as { nexus_session?: unknown } | null)?.nexus_session;
  if (typeof version === 'number' && version > SESSION_FORMAT_VERSION)
    throw new Error(
      `${file}:1: written in session format ${version}; this runtime reads format ${SESSION_FORMAT_VERSION}`,
    );
  return {
    reason: `bad session header: ${firstIssueText(result.error)}`,
    lineIsEntry: typeof parseLine(line) !== 'string',
  };
}

/** The `ts` of the first valid entry: when the session began, as near as the file still says. */
function firstEntryTs(lines: readonly string[], lineOneIsEntry: boolean): string | null {
  for (let i = lineOneIsEntry ? 0 : 1; i < lines.length; i++) {
    const entry = parseLine(lines[i] as string);
    if (typeof entry !== 'string') return entry.ts;
  }
  return null;
}

/**
 * Writes the rebuilt header in place of the bad line 1 (or before it, when line 1 is an entry and
 * the header is simply missing), keeping the bad line in `FILE.bad-header` first, so a crash in
 * between leaves the file as it was and the next open repairs it again. `lines` is updated to match.
 */
async function repairHeader(
  fs: SessionFs,
  file: string,
  lines: string[],
  header: SessionHeader,
  read: { reason: string; lineIsEntry: boolean },
  report: (problem: SessionProblem) => void,
): Promise<void> {
  const headerLine = JSON.stringify(header);
  if (read.lineIsEntry) {
    lines.unshift(headerLine);
  } else {
    await fs.writeDurably(`${file}.bad-header`, `${lines[0] ?? ''}\n`);
    lines[0] = headerLine;
  }
  await fs.replace(file, lines.map((l) => `${l}\n`).join(''), true);
  report({
    file,
    line: 1,
    reason: read.lineIsEntry
      ? `${read.reason}: line 1 is an entry; a header rebuilt from the file name and the first entry was inserted before it`
      : `${read.reason}: rebuilt from the file name and the first entry; the bad line is kept in ${path.basename(file)}.bad-header`,
    ...(read.lineIsEntry ? {} : { kept_as: `${file}.bad-header` }),
  });
}

/** An entry, or the reason the line is unusable. */
function parseLine(line: string): SessionEntry | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'not valid JSON; skipped';
  }
  const result = parseSessionEntry(value);
  return result.success ? result.data : `${firstIssueText(result.error)}; skipped`;
}
