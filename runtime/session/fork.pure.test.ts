import type { SessionEntry } from '../../protocol/index.js';
import { buildContext } from './context.pure.js';
import { checkForkSource, forkAncestry } from './fork.pure.js';
import { sessionBuilder } from './session-fixtures.js';

const ids = (entries: { id: string }[]) => entries.map((e) => e.id);
/** The entry with `id` of a built session. */
const at = (s: { entries: SessionEntry[] }, id: string) => s.entries.find((e) => e.id === id) as SessionEntry;

describe('forkAncestry', () => {
  it('copies the branch from the root to the source, and nothing of other branches', () => {
    const s = sessionBuilder();
    const sys = s.system('sys');
    const u1 = s.user('u1');
    const a1 = s.assistant('a1');
    s.user('abandoned', a1);
    const u2 = s.user('u2', a1);
    const source = at(s, u2);
    expect(ids(forkAncestry(s.entries, source, false))).toEqual([sys, u1, a1, u2]);
  });

  it('stops at the parent of the source when a seed replaces its user message', () => {
    const s = sessionBuilder();
    const sys = s.system('sys');
    const u1 = s.user('u1');
    const a1 = s.assistant('a1');
    const u2 = s.user('u2');
    s.assistant('a2');
    const source = at(s, u2);
    expect(ids(forkAncestry(s.entries, source, true))).toEqual([sys, u1, a1]);
  });

  it('copies nothing when a seed replaces a root entry', () => {
    const s = sessionBuilder();
    const root = s.user('first');
    const source = at(s, root);
    expect(forkAncestry(s.entries, source, true)).toEqual([]);
  });

  it('replays the copy to the same context as the source branch, compaction included', () => {
    const s = sessionBuilder();
    s.system('sys');
    s.user('u1');
    s.assistant('a1');
    const kept = s.user('u2');
    s.assistant('a2');
    s.compaction(kept, 'u1 asked, a1 answered');
    s.user('u3');
    const head = s.assistant('a3');
    s.user('after the fork point');
    const source = at(s, head);
    const copy = forkAncestry(s.entries, source, false);
    expect(buildContext(copy, head)).toEqual(buildContext(s.entries, head));
  });

  it('starts the copy where a lost parent ends the branch, as replay does', () => {
    const s = sessionBuilder();
    const orphan = s.user('parent line was lost', '01ARZ3NDEKTSV4RRFFQ69G5FAV');
    const a = s.assistant('a');
    const source = at(s, a);
    const copy = forkAncestry(s.entries, source, false);
    expect(ids(copy)).toEqual([orphan, a]);
    expect(buildContext(copy, a)).toEqual(buildContext(s.entries, a));
  });
});

describe('checkForkSource', () => {
  const s = sessionBuilder();
  const user = s.user('u');
  const assistant = s.assistant('a');
  const find = (id: string) => s.entries.find((e) => e.id === id);

  it('accepts any entry without a seed, and a turn.user with one', () => {
    expect(checkForkSource(find(assistant), assistant, false)).toBeNull();
    expect(checkForkSource(find(user), user, true)).toBeNull();
  });

  it('refuses an unknown entry as not_found, naming the field', () => {
    expect(checkForkSource(undefined, '01ARZ3NDEKTSV4RRFFQ69G5FAV', false)).toEqual({
      code: 'not_found',
      message: 'source_entry_id: 01ARZ3NDEKTSV4RRFFQ69G5FAV is not an entry of this session',
    });
  });

  it('refuses a seed on a source that is not a turn.user as invalid_request', () => {
    expect(checkForkSource(find(assistant), assistant, true)).toEqual({
      code: 'invalid_request',
      message: `seed_user_message: needs a turn.user source entry; ${assistant} is turn.assistant`,
    });
  });
});
