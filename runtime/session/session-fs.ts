/**
 * The file operations a session needs, as a small port so a unit test can record their order
 * (B.55: fsync order is proven with an injected file system). `nodeSessionFs` is the real one.
 */
import { copyFile, mkdir, open, readFile, rename, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface SessionFs {
  readFileIfExists(file: string): Promise<string | null>;
  /** Appends and fdatasyncs before resolving. */
  appendDurably(file: string, text: string): Promise<void>;
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

export const nodeSessionFs: SessionFs = {
  async readFileIfExists(file) {
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  },
  async appendDurably(file, text) {
    const handle = await open(file, 'a');
    try {
      await handle.write(text);
      await handle.datasync();
    } finally {
      await handle.close();
    }
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
