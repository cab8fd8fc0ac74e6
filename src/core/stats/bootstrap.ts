// Percentile bootstrap interval of the difference in means (treatment − control), for revenue with heavy tails
// where the t-interval's normal approximation is doubtful. Seeded: the same seed gives the same interval.
import type { Interval } from "./effect-estimate.ts";
import { type Failure, failure, firstNonFinite } from "./outcome.ts";
import { type RandomSource, randomInt } from "./seeded-random.ts";

export interface BootstrapOptions {
  random: RandomSource;
  /** number of resamples, default 2000 */
  resamples?: number;
  /** confidence level, default 0.95 */
  confidence?: number;
}

export type BootstrapResult =
  | {
      ok: true;
      difference: number;
      ci: Interval;
      /** standard deviation of the resampled differences */
      standardError: number;
      resamples: number;
    }
  | Failure;

function check(
  control: ArrayLike<number>,
  treatment: ArrayLike<number>,
  options: BootstrapOptions,
): string | null {
  for (const [name, values] of [
    ["control", control],
    ["treatment", treatment],
  ] as const) {
    const bad = firstNonFinite(values);
    if (bad >= 0) return `${name} value #${bad} is not a finite number (${String(values[bad])})`;
    if (values.length < 2)
      return `${name} group needs at least 2 customers for a bootstrap, has ${values.length}`;
  }
  const resamples = options.resamples ?? 2000;
  if (!Number.isInteger(resamples) || resamples < 100) return `resamples must be a whole number ≥ 100`;
  const confidence = options.confidence ?? 0.95;
  if (!(confidence > 0 && confidence < 1)) return `confidence must be between 0 and 1`;
  return null;
}

function resampledMean(values: ArrayLike<number>, random: RandomSource): number {
  const n = values.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[randomInt(random, n)] ?? 0;
  return sum / n;
}

function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] ?? 0;
  return sum / values.length;
}

/** Type-7 quantile (linear interpolation) of sorted values. */
export function sortedQuantile(sorted: ArrayLike<number>, p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const a = sorted[lo] ?? Number.NaN;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)] ?? a;
  return a + (h - lo) * (b - a);
}

export function bootstrapMeanDifference(
  control: ArrayLike<number>,
  treatment: ArrayLike<number>,
  options: BootstrapOptions,
): BootstrapResult {
  const bad = check(control, treatment, options);
  if (bad) return failure(bad);
  const resamples = options.resamples ?? 2000;
  const alpha = 1 - (options.confidence ?? 0.95);
  const differences = new Float64Array(resamples);
  let sum = 0;
  for (let r = 0; r < resamples; r++) {
    const d = resampledMean(treatment, options.random) - resampledMean(control, options.random);
    differences[r] = d;
    sum += d;
  }
  const average = sum / resamples;
  let squares = 0;
  for (const d of differences) squares += (d - average) ** 2;
  differences.sort();
  return {
    ok: true,
    difference: mean(treatment) - mean(control),
    ci: { lower: sortedQuantile(differences, alpha / 2), upper: sortedQuantile(differences, 1 - alpha / 2) },
    standardError: Math.sqrt(squares / (resamples - 1)),
    resamples,
  };
}
