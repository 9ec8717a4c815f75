/**
 * The file operations a session needs, as a small port so a unit test can record their order
 * (B.55: fsync order is proven with an injected file system). `nodeSessionFs` is the real one.
 *
 * An open session writes through a `SessionWriter` that holds its two files open: opening and
 * closing the session file on every step cost 15 % of the fdatasync itself, and replacing `.head`
 * by rename on every step doubled it (ext4 flushes a file renamed over another, and the next
 * fdatasync then commits that rename too). So ordinary appends rewrite `.head` in place, one small
 * write at offset 0 without fsync; rewind and fork still replace it by rename and fsync it and its
 * folder (B.13; docs/adr/0005-head-written-in-place.md).
 */
import { constants, writeSync } from 'node:fs';
import {
  copyFile,
  mkdir,
  open,
  readFile,
  rename,
  truncate,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';
import path from 'node:path';

/** The open files of one session: the JSONL file for appends and its `.head`. */
export interface SessionWriter {
  /** Appends and fdatasyncs before resolving. */
  append(text: string): Promise<void>;
  /**
   * Rewrites `.head`. Ordinary (`durable` false): in place, padded with spaces to at least its
   * previous length so no truncation is needed, without fsync; a crash leaves the old or the new
   * text, and open repairs anything else from the file (B.13). Durable: replaced by rename, then it
   * and its folder are fsynced.
   */
  writeHead(text: string, durable: boolean): Promise<void>;
  close(): Promise<void>;
}

export interface SessionFs {
  readFileIfExists(file: string): Promise<string | null>;
  /** The writer of session `file` (and `file.head`); nothing is opened until it is used. */
  openWriter(file: string): SessionWriter;
  /** Creates or overwrites a file and fsyncs it and its folder. */
  writeDurably(file: string, text: string): Promise<void>;
  /** Replaces a small file atomically by rename; with `durable`, fsyncs it and its folder. */
  replace(file: string, text: string, durable: boolean): Promise<void>;
  copy(from: string, to: string): Promise<void>;
  truncate(file: string, length: number): Promise<void>;
  mkdirp(dir: string): Promise<void>;
}

async function syncFolder(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * How long a writer keeps its files open after its last write. Steps of a turn come seconds apart
 * (provider calls), so a turn keeps them; an idle session (thread mode can hold hundreds) holds no
 * descriptors, and nothing is left for the garbage collector to close.
 */
const HOLD_OPEN_MS = 10_000;

/** The real writer: handles opened on first use and kept until `close` or `HOLD_OPEN_MS` idle. */
function nodeSessionWriter(file: string, fs: SessionFs): SessionWriter {
  const headFile = `${file}.head`;
  let appender: Promise<FileHandle> | null = null;
  let head: Promise<{ handle: FileHandle; length: number }> | null = null;
  let busy = 0;
  let idleTimer: NodeJS.Timeout | null = null;
  const openHead = async () => {
    // Read-write without O_APPEND, so the write lands at offset 0; created if missing.
    const handle = await open(headFile, constants.O_RDWR | constants.O_CREAT, 0o644);
    return { handle, length: (await handle.stat()).size };
  };
  const closeHead = async () => {
    const held = head;
    head = null;
    if (held) await (await held).handle.close();
  };
  const closeAll = async () => {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = null;
    const held = appender;
    appender = null;
    await closeHead();
    if (held) await (await held).close();
  };
  /** Runs one write; the files close once no write has run for `HOLD_OPEN_MS`. */
  const use = async (work: () => Promise<void>): Promise<void> => {
    busy++;
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = null;
    try {
      await work();
    } finally {
      if (--busy === 0) {
        idleTimer = setTimeout(() => void closeAll().catch(() => undefined), HOLD_OPEN_MS);
        idleTimer.unref(); // never keeps the process alive
      }
    }
  };
  return {
    append: (text) =>
      use(async () => {
        appender ??= open(file, 'a');
        const handle = await appender;
        await handle.write(text);
        await handle.datasync();
      }),
    writeHead: (text, durable) =>
      use(async () => {
        if (durable) {
          // The rename puts a new file at the path: the held handle would write to the old one.
          await closeHead();
          await fs.replace(headFile, text, true);
          return;
        }
        head ??= openHead();
        const held = await head;
        const padded = text.padEnd(held.length, ' ');
        // A synchronous write: tens of bytes into the page cache cost less than a trip through
        // libuv's thread pool, which was a quarter of the step's time beyond the fdatasync.
        writeSync(held.handle.fd, padded, 0, 'utf8');
        held.length = Math.max(held.length, Buffer.byteLength(padded));
      }),
    close: closeAll,
  };
}

export const nodeSessionFs: SessionFs = {
  async readFileIfExists(file) {
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  },
  openWriter(file) {
    return nodeSessionWriter(file, nodeSessionFs);
  },
  async writeDurably(file, text) {
    const handle = await open(file, 'w');
    try {
      await handle.write(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await syncFolder(path.dirname(file));
  },
  async replace(file, text, durable) {
    const temp = `${file}.tmp`;
    if (durable) {
      const handle = await open(temp, 'w');
      try {
        await handle.write(text);
        await handle.sync();
      } finally {
        await handle.close();
      }
    } else {
      await writeFile(temp, text);
    }
    await rename(temp, file);
    if (durable) await syncFolder(path.dirname(file));
  },
  copy: (from, to) => copyFile(from, to),
  truncate: (file, length) => truncate(file, length),
  mkdirp: async (dir) => void (await mkdir(dir, { recursive: true })),
};
