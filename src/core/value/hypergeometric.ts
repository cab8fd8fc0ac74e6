// Gauss's hypergeometric function 2F1(a, b; c; z) for 0 ≤ z < 1, by its power series, as the BG/NBD expectations
// need it. The arguments there satisfy z = t / (α + T + t) < 1, and the series converges geometrically in z.

const MAX_TERMS = 1_000_000;

export function hyp2f1(a: number, b: number, c: number, z: number): number {
  if (!(z >= 0 && z < 1)) return Number.NaN;
  let term = 1;
  let sum = 1;
  for (let n = 0; n < MAX_TERMS; n++) {
    term *= (((a + n) * (b + n)) / ((c + n) * (n + 1))) * z;
    sum += term;
    if (Math.abs(term) <= 1e-15 * Math.abs(sum)) return sum;
  }
  return sum;
}
