/**
 * What a fork copies (SPEC section 7, B.20, B.50), decided from the entries alone. A fork holds a
 * copy of the ancestry of its source entry, ids kept: root → source. With a seed user message the
 * seed replaces the source's user message, so the source must be a `turn.user` and the copy stops at
 * its parent; the seed then arrives as an ordinary message and starts the fork's first turn.
 */
import type { SessionEntry } from '../../protocol/index.js';
import { branchTo } from './context.pure.js';

/** Why a fork cannot be made, as a wire error code and a message naming the field. */
export interface ForkRefusal {
  code: 'not_found' | 'invalid_request';
  message: string;
}

/** Checks the source entry of a fork: null when the fork can be made. */
export function checkForkSource(
  source: SessionEntry | undefined,
  sourceId: string,
  withSeed: boolean,
): ForkRefusal | null {
  if (!source)
    return { code: 'not_found', message: `source_entry_id: ${sourceId} is not an entry of this session` };
  if (withSeed && source.kind !== 'turn.user')
    return {
      code: 'invalid_request',
      message: `seed_user_message: needs a turn.user source entry; ${sourceId} is ${source.kind}`,
    };
  return null;
}

/**
 * The entries a fork copies, oldest first: the branch from the root to `source`, or to its parent
 * when a seed replaces it. A parent lost from the file ends the walk, as it does in replay, so the
 * fork replays to the same context as the source did.
 */
export function forkAncestry(
  entries: readonly SessionEntry[],
  source: SessionEntry,
  withSeed: boolean,
): SessionEntry[] {
  const last = withSeed ? source.parentId : source.id;
  return last === null ? [] : branchTo(entries, last).branch;
}
