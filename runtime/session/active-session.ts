/**
 * `session/active` (B.20, B.50): which global session is active in global mode, `global`
 * (`session/global.jsonl`) or a global fork `fork-<id>` (`session/forks/<id>.jsonl`). A missing file
 * means `global`. It is replaced atomically and fsynced with its folder, like a moved head: after a
 * crash the aspect continues in the session the last fork or activate chose.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import type { SessionProblem } from './session-file.js';
import { nodeSessionFs, type SessionFs } from './session-fs.js';

const GLOBAL_SID = /^(global|fork-[A-Za-z0-9]{1,64})$/;

export function activeFileOf(home: string): string {
  return path.join(home, 'session', 'active');
}

/** The file of a global session id: `global.jsonl` or `forks/<id>.jsonl`; null for any other sid. */
export function globalSessionFile(home: string, sid: string): string | null {
  if (sid === 'global') return path.join(home, 'session', 'global.jsonl');
  if (GLOBAL_SID.test(sid)) return path.join(home, 'session', 'forks', `${sid.slice('fork-'.length)}.jsonl`);
  return null;
}

/**
 * Reads the active global session. A file that names no global session, or a fork whose file is
 * gone, is reported and read as `global`, so the aspect keeps running on its original session.
 */
export async function readActiveSession(
  home: string,
  onProblem: (problem: SessionProblem) => void,
  fs: SessionFs = nodeSessionFs,
): Promise<string> {
  const file = activeFileOf(home);
  const raw = await fs.readFileIfExists(file);
  if (raw === null) return 'global';
  const sid = raw.trim();
  const sessionFile = globalSessionFile(home, sid);
  if (sessionFile === null) {
    onProblem({ file, line: 1, reason: 'must be global or fork-ID; using global' });
    return 'global';
  }
  if (
    sid !== 'global' &&
    !(await access(sessionFile).then(
      () => true,
      () => false,
    ))
  ) {
    onProblem({ file, line: 1, reason: `${sid} has no session file; using global` });
    return 'global';
  }
  return sid;
}

/** Makes `sid` the active global session, durably. */
export async function writeActiveSession(
  home: string,
  sid: string,
  fs: SessionFs = nodeSessionFs,
): Promise<void> {
  if (globalSessionFile(home, sid) === null) throw new Error(`${sid} is not a global session id`);
  await fs.mkdirp(path.join(home, 'session'));
  await fs.replace(activeFileOf(home), `${sid}\n`, true);
}
