// Customers drawn from the BG/NBD process itself, with a seeded generator: for parameter-recovery tests and for
// timing fits on large synthetic bases.
import { type RandomSource, randomNormal } from "../stats/seeded-random.ts";
import type { BgNbdParams } from "./bg-nbd.ts";
import type { RepeatSummary } from "./model-fit.ts";

/** Gamma(shape, 1) draw (Marsaglia & Tsang 2000; boosted for shape < 1). */
export function randomGamma(random: RandomSource, shape: number): number {
  if (shape < 1) return randomGamma(random, shape + 1) * (1 - random.next()) ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const z = randomNormal(random);
    const v = (1 + c * z) ** 3;
    if (v <= 0) continue;
    const u = 1 - random.next();
    if (Math.log(u) < 0.5 * z * z + d - d * v + d * Math.log(v)) return d * v;
  }
}

function randomBeta(random: RandomSource, a: number, b: number): number {
  const x = randomGamma(random, a);
  return x / (x + randomGamma(random, b));
}

/** One customer observed for `age` time units after their first purchase. */
export function simulateCustomer(
  { r, alpha, a, b }: BgNbdParams,
  age: number,
  random: RandomSource,
): RepeatSummary {
  const lambda = randomGamma(random, r) / alpha;
  const dropout = randomBeta(random, a, b);
  let time = 0;
  let frequency = 0;
  let recency = 0;
  for (;;) {
    time += -Math.log(1 - random.next()) / lambda;
    if (time > age) break;
    frequency++;
    recency = time;
    if (random.next() < dropout) break; // dropped out right after this purchase
  }
  return { frequency, recency, age };
}
