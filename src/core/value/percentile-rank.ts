// Percentile rank of each value among all values, shared by RFM quintiles and CLV percentiles.

/**
 * Percentile (0–100) of each value among all values, by mid-rank: the share of customers below plus half of those
 * tied, so equal values get equal percentiles and the top 10% are those at ≥ 90. NaN values get NaN.
 */
export function percentileRanks(values: readonly number[]): number[] {
  const finite = values.map((v, i) => ({ v, i })).filter((e) => !Number.isNaN(e.v));
  finite.sort((p, q) => p.v - q.v);
  const out = values.map(() => Number.NaN);
  const n = finite.length;
  for (let start = 0; start < n; ) {
    let end = start;
    while (end + 1 < n && finite[end + 1]?.v === finite[start]?.v) end++;
    const percentile = (100 * (start + (end - start + 1) / 2)) / n;
    for (let k = start; k <= end; k++) {
      const e = finite[k];
      if (e) out[e.i] = percentile;
    }
    start = end + 1;
  }
  return out;
}
