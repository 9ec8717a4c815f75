/**
 * The decisions of active retrieval (B.18, B.60), apart from the search itself: when a batch opens
 * a thread, what to search for, which hits pass the threshold and what the note records.
 */
import type { KnowledgeHit, SessionEntry } from '../../protocol/index.js';

/** At most this many distinct words go into the query, in the order the message gives them. */
export const MAX_QUERY_WORDS = 32;
/** Longer "words" (hashes, encoded blobs) match nothing useful and are left out. */
const MAX_WORD_CHARS = 64;
/** The note keeps this much of each hit's content; `knowledge_search` returns it whole. */
export const NOTE_CONTENT_CHARS = 4000;

/**
 * The words of `text` joined by " or ", for `websearch_to_tsquery`: it ANDs plain words, which
 * rarely matches a question, while "or" matches any (B.60). Letters and digits only, so no word
 * is read as an operator (`-`, quotes); "or" itself is dropped. Null when no word is left.
 */
export function retrievalQuery(text: string): string | null {
  const words: string[] = [];
  for (const [word] of text.toLowerCase().matchAll(/[\p{L}\p{N}]+/gu)) {
    if (word.length > MAX_WORD_CHARS || word === 'or' || words.includes(word)) continue;
    words.push(word);
    if (words.length === MAX_QUERY_WORDS) break;
  }
  return words.length === 0 ? null : words.join(' or ');
}

/**
 * Whether a batch of `threadId` is the thread's first in this session: no `turn.user` of the
 * thread and no earlier retrieval for it (one whose turn a crash cut short is not repeated).
 */
export function opensThread(entries: readonly SessionEntry[], threadId: string): boolean {
  return !entries.some(
    (e) =>
      (e.kind === 'turn.user' && e.payload.thread_id === threadId) ||
      (e.kind === 'custom.knowledge' && e.payload.thread_id === threadId),
  );
}

/** A hit as the note records it: what the `knowledge_search` tool returns, content shortened. */
export interface NotedHit {
  from_agent: string;
  topic: string;
  content: string;
  score: number;
}

/** The hits scoring at least `minScore` (B.18's threshold), as the note records them. */
export function passingHits(hits: readonly KnowledgeHit[], minScore: number): NotedHit[] {
  return hits
    .filter((hit) => hit.score >= minScore)
    .map(({ from_agent, topic, content, score }) => ({
      from_agent,
      topic,
      content: content.length > NOTE_CONTENT_CHARS ? `${content.slice(0, NOTE_CONTENT_CHARS)} […]` : content,
      score,
    }));
}
