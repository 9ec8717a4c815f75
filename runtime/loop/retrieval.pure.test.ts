import type { KnowledgeHit, SessionEntry } from '../../protocol/index.js';
import {
  MAX_QUERY_WORDS,
  NOTE_CONTENT_CHARS,
  opensThread,
  passingHits,
  retrievalQuery,
} from './retrieval.pure.js';

const entry = (kind: string, payload: Record<string, unknown>): SessionEntry =>
  ({
    id: '01J00000000000000000000000',
    parentId: null,
    ts: '2026-01-01T00:00:00Z',
    kind,
    payload,
  }) as SessionEntry;

const hit = (topic: string, score: number, content = `about ${topic}`): KnowledgeHit => ({
  id: '1',
  from_agent: 'scout',
  topic,
  content,
  shared: true,
  score,
});

describe('active retrieval decisions', () => {
  it('searches for any of the message words: lowercased, distinct, joined by "or"', () => {
    expect(retrievalQuery('How do we roll back a Helm deploy? Roll back!')).toBe(
      'how or do or we or roll or back or a or helm or deploy',
    );
  });

  it('keeps only letters and digits, so nothing is read as an operator, and drops "or" itself', () => {
    expect(retrievalQuery('"exact phrase" -not tea OR coffee or tea, v2.1')).toBe(
      'exact or phrase or not or tea or coffee or v2 or 1',
    );
    expect(retrievalQuery('Zürich über straße 東京')).toBe('zürich or über or straße or 東京');
  });

  it('has no query for text without words, and caps words in number and length', () => {
    expect(retrievalQuery('?! -- ""')).toBeNull();
    expect(retrievalQuery('or OR or')).toBeNull();
    const many = Array.from({ length: 100 }, (_, i) => `w${i}`).join(' ');
    expect(retrievalQuery(many)?.split(' or ')).toHaveLength(MAX_QUERY_WORDS);
    expect(retrievalQuery(`${'x'.repeat(65)} short`)).toBe('short');
  });

  it('opens a thread only when the session has neither a turn nor a retrieval of it', () => {
    expect(opensThread([], '7')).toBe(true);
    expect(
      opensThread([entry('turn.user', { content: 'hi', message_ids: ['5'], thread_id: '3' })], '7'),
    ).toBe(true);
    expect(
      opensThread([entry('turn.user', { content: 'hi', message_ids: ['9'], thread_id: '7' })], '7'),
    ).toBe(false);
    expect(opensThread([entry('custom.knowledge', { query: 'q', hits: [], thread_id: '7' })], '7')).toBe(
      false,
    );
    expect(opensThread([entry('custom.turn_end', { reason: 'done', thread_id: '7' })], '7')).toBe(true);
  });

  it('keeps hits at or above the threshold, shaped as the tool returns them, long content shortened', () => {
    const long = 'y'.repeat(NOTE_CONTENT_CHARS + 10);
    expect(passingHits([hit('a', 0.3), hit('b', 0.05), hit('c', 0.049), hit('d', 0.2, long)], 0.05)).toEqual([
      { from_agent: 'scout', topic: 'a', content: 'about a', score: 0.3 },
      { from_agent: 'scout', topic: 'b', content: 'about b', score: 0.05 },
      { from_agent: 'scout', topic: 'd', content: `${'y'.repeat(NOTE_CONTENT_CHARS)} […]`, score: 0.2 },
    ]);
    expect(passingHits([hit('a', 0.01)], 0.05)).toEqual([]);
  });
});
