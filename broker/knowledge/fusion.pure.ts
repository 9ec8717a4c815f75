/**
 * Reciprocal-rank fusion (B.26, B.90): hybrid search merges the full-text ranking and the vector
 * ranking by rank alone, so their incomparable scores (ts_rank_cd, cosine distance) never meet.
 * An item at 1-based rank r in a ranking earns 1 / (k + r) from it; items are ordered by the sum.
 */

/** The constant of Cormack, Clarke and Büttcher (2009): damps the weight of the top few ranks. */
export const RRF_K = 60;

export interface FusedItem {
  id: string;
  /**
   * The fused score divided by the best one possible (first in every ranking), so it falls in
   * (0, 1] and reads like the text-only score (docs/knowledge.md).
   */
  score: number;
}

/**
 * Fuses `rankings` (each a list of ids, best first; an id repeated within one ranking counts at
 * its first place) and returns the best `limit` items. Ties keep the order in which the items
 * were first met, reading the rankings rank by rank, so the result is deterministic.
 */
export function reciprocalRankFusion(
  rankings: readonly (readonly string[])[],
  limit: number,
  k = RRF_K,
): FusedItem[] {
  if (rankings.length === 0 || limit <= 0) return [];
  const sums = new Map<string, number>();
  const firstMet = new Map<string, number>();
  const seen = rankings.map(() => new Set<string>());
  const longest = Math.max(0, ...rankings.map((r) => r.length));
  for (let rank = 0; rank < longest; rank++) {
    for (const [which, ranking] of rankings.entries()) {
      const id = ranking[rank];
      const seenHere = seen[which] as Set<string>;
      if (id === undefined || seenHere.has(id)) continue;
      seenHere.add(id);
      if (!firstMet.has(id)) firstMet.set(id, firstMet.size);
      sums.set(id, (sums.get(id) ?? 0) + 1 / (k + rank + 1));
    }
  }
  const best = rankings.length / (k + 1);
  return [...sums.entries()]
    .sort(([a, x], [b, y]) => y - x || (firstMet.get(a) as number) - (firstMet.get(b) as number))
    .slice(0, limit)
    .map(([id, sum]) => ({ id, score: sum / best }));
}
