// A test that stays valid under continuous monitoring: the mixture sequential probability ratio test (mSPRT) of
// Johari, Koomen, Pekelis & Walsh, "Always Valid Inference" (Operations Research, 2022). Each variant is compared
// with the control by a normal likelihood ratio mixed over effects θ ~ N(0, τ²):
//   Λ = sqrt(V / (V + τ²)) · exp(τ² Δ² / (2 V (V + τ²)))
// where Δ is the observed difference and V its estimated variance. The always-valid p-value is the running minimum
// of 1/Λ, so a report may be looked at after every customer without inflating false winners. Several variants are
// held to alpha / k each (Bonferroni), which keeps the chance of any false winner ≤ alpha.
import type { Interval } from "./effect-estimate.ts";
import { checkCount, checkFinite, type Failure, failure } from "./outcome.ts";

export interface ArmTotals {
  n: number;
  /** conversions for a rate; total revenue for a mean */
  sum: number;
  /** conversions for a rate; sum of squared revenue for a mean */
  sumSquares: number;
}

export interface SequentialOptions {
  metric: "proportion" | "mean";
  /** chance of declaring any false winner over the whole experiment, default 0.05 */
  alpha?: number;
  /** τ, the spread of effects the test is tuned to, in standard deviations of the metric; default 0.1 */
  mixtureScale?: number;
  /** always-valid p-values of the previous look, by variant name, so the running minimum carries over */
  previousPValues?: Readonly<Record<string, number>>;
}

export type ArmDecision = "better" | "worse" | "undecided";

export interface SequentialArm {
  name: string;
  n: number;
  control: number;
  treatment: number;
  difference: number;
  likelihoodRatio: number;
  /** always-valid p-value: compare with alphaPerArm at any time */
  pValue: number;
  /** always-valid confidence interval of the difference at level 1 − alphaPerArm at this look */
  ci: Interval;
  decision: ArmDecision;
}

export type SequentialResult =
  | { ok: true; arms: SequentialArm[]; alphaPerArm: number; winner: string | null }
  | Failure;

export const MAX_VARIANTS = 8;

interface Moments {
  n: number;
  mean: number;
  variance: number;
}

function moments(t: ArmTotals, metric: SequentialOptions["metric"]): Moments {
  const mean = t.n > 0 ? t.sum / t.n : 0;
  if (metric === "proportion") return { n: t.n, mean, variance: mean * (1 - mean) };
  const variance = t.n > 1 ? Math.max(0, (t.sumSquares - t.sum * mean) / (t.n - 1)) : 0;
  return { n: t.n, mean, variance };
}

function checkArm(t: ArmTotals, name: string, metric: SequentialOptions["metric"]): string | null {
  const bad =
    checkCount(t.n, `${name}.n`) ??
    checkFinite(t.sum, `${name}.sum`) ??
    checkFinite(t.sumSquares, `${name}.sumSquares`);
  if (bad) return bad;
  if (metric === "proportion")
    return checkCount(t.sum, `${name}.sum`) ?? (t.sum > t.n ? `${name}.sum exceeds ${name}.n` : null);
  return t.sumSquares < 0 ? `${name}.sumSquares must be ≥ 0` : null;
}

function checkOptions(
  variants: Readonly<Record<string, ArmTotals>>,
  options: SequentialOptions,
): string | null {
  const count = Object.keys(variants).length;
  if (count === 0) return "at least one variant is needed";
  if (count > MAX_VARIANTS) return `at most ${MAX_VARIANTS} variants are allowed, got ${count}`;
  const alpha = options.alpha ?? 0.05;
  if (!(alpha > 0 && alpha < 1)) return `alpha must be between 0 and 1, got ${String(alpha)}`;
  const scale = options.mixtureScale ?? 0.1;
  if (!(scale > 0 && Number.isFinite(scale))) return `mixtureScale must be a positive number`;
  return null;
}

/** Variance of the observed difference and the variance τ² of the mixing distribution, on the metric's scale. */
function varianceTerms(c: Moments, t: Moments, options: SequentialOptions): { v: number; tau2: number } {
  const scale = options.mixtureScale ?? 0.1;
  if (options.metric === "proportion") {
    // Pooled rate: under the null both arms share it, which keeps early looks from over-reacting.
    const p = (c.mean * c.n + t.mean * t.n) / (c.n + t.n);
    const sigma2 = p * (1 - p);
    return { v: sigma2 * (1 / c.n + 1 / t.n), tau2: scale * scale * sigma2 };
  }
  const pooled = ((c.n - 1) * c.variance + (t.n - 1) * t.variance) / (c.n + t.n - 2);
  return { v: c.variance / c.n + t.variance / t.n, tau2: scale * scale * pooled };
}

function compareArm(
  name: string,
  c: Moments,
  t: Moments,
  alphaPerArm: number,
  options: SequentialOptions,
): SequentialArm {
  const difference = t.mean - c.mean;
  const base = { name, n: t.n, control: c.mean, treatment: t.mean, difference };
  const previous = options.previousPValues?.[name];
  const carried = previous !== undefined && previous >= 0 && previous <= 1 ? previous : 1;
  const { v, tau2 } = c.n >= 2 && t.n >= 2 ? varianceTerms(c, t, options) : { v: 0, tau2: 0 };
  if (!(v > 0 && tau2 > 0)) {
    // No spread yet (too few customers, or every outcome equal): no evidence either way.
    const decision = carried <= alphaPerArm ? direction(difference) : "undecided";
    const wide = { lower: Number.NEGATIVE_INFINITY, upper: Number.POSITIVE_INFINITY };
    return { ...base, likelihoodRatio: 1, pValue: carried, ci: wide, decision };
  }
  const logLambda = 0.5 * Math.log(v / (v + tau2)) + (tau2 * difference * difference) / (2 * v * (v + tau2));
  const pValue = Math.min(carried, Math.min(1, Math.exp(-logLambda)));
  // Confidence sequence: the θ0 with Λ(θ0) < 1/alpha.
  const halfWidth = Math.sqrt(
    ((2 * v * (v + tau2)) / tau2) * (Math.log(1 / alphaPerArm) + 0.5 * Math.log((v + tau2) / v)),
  );
  return {
    ...base,
    likelihoodRatio: Math.exp(logLambda),
    pValue,
    ci: { lower: difference - halfWidth, upper: difference + halfWidth },
    decision: pValue <= alphaPerArm ? direction(difference) : "undecided",
  };
}

function direction(difference: number): ArmDecision {
  if (difference > 0) return "better";
  return difference < 0 ? "worse" : "undecided";
}

/** One look at an experiment: every variant against the control, and the winner if one is already certain. */
export function sequentialTest(
  control: ArmTotals,
  variants: Readonly<Record<string, ArmTotals>>,
  options: SequentialOptions,
): SequentialResult {
  const bad =
    checkOptions(variants, options) ??
    checkArm(control, "control", options.metric) ??
    Object.entries(variants).reduce<string | null>(
      (found, [name, t]) => found ?? checkArm(t, name, options.metric),
      null,
    );
  if (bad) return failure(bad);
  const names = Object.keys(variants);
  const alphaPerArm = (options.alpha ?? 0.05) / names.length;
  const c = moments(control, options.metric);
  const arms = names.map((name) => {
    const totals = variants[name] ?? { n: 0, sum: 0, sumSquares: 0 };
    return compareArm(name, c, moments(totals, options.metric), alphaPerArm, options);
  });
  let winner: SequentialArm | null = null;
  for (const arm of arms) {
    if (arm.decision === "better" && (winner === null || arm.difference > winner.difference)) winner = arm;
  }
  return { ok: true, arms, alphaPerArm, winner: winner?.name ?? null };
}
