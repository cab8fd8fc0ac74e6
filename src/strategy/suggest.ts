// "Did you mean …?": the closest known name to a misspelt one, by Damerau–Levenshtein distance (adjacent
// swaps count as one edit, the commonest typo), ignoring case, and for path-like names (time zones) also by the
// last segment, so "Moscow" finds "Europe/Moscow".

/** Optimal-string-alignment distance; stops early once every cell of a row exceeds `limit`. */
export function editDistance(a: string, b: string, limit = Number.POSITIVE_INFINITY): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let prevPrev: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, (prevPrev[j - 2] ?? 0) + 1);
      }
      row.push(d);
      if (d < rowMin) rowMin = d;
    }
    if (rowMin > limit) return limit + 1;
    prevPrev = prev;
    prev = row;
  }
  return prev[b.length] ?? 0;
}

function allowedEdits(word: string): number {
  return word.length <= 3 ? 1 : word.length <= 6 ? 2 : 3;
}

/** The best candidate close enough to `word` to be what was meant, or undefined. */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  return suggestion(word, candidates)?.name;
}

/** Like `suggest`, with how far the candidate is (edits; a clipped name counts as 1). */
export function suggestion(
  word: string,
  candidates: Iterable<string>,
): { name: string; distance: number } | undefined {
  const w = word.toLowerCase();
  const limit = allowedEdits(w);
  let best: { name: string; distance: number } | undefined;
  for (const c of candidates) {
    const lc = c.toLowerCase();
    if (lc === w) return { name: c, distance: 0 };
    const tail = lc.slice(lc.lastIndexOf("/") + 1);
    let d = Math.min(editDistance(w, lc, limit), tail === lc ? limit + 1 : editDistance(w, tail, limit));
    // A clipped name ("segment" for "segment_entered", "Moscow" for "Europe/Moscow") is as likely as one typo.
    if (w.length >= 4 && (lc.startsWith(`${w}_`) || tail === w)) d = Math.min(d, 1);
    if (d <= limit && (best === undefined || d < best.distance)) best = { name: c, distance: d };
  }
  return best;
}
