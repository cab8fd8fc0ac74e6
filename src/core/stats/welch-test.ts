// Welch's t-test for revenue per customer (unequal variances, Welch–Satterthwaite degrees of freedom), with
// Student's pooled-variance test as an option for comparing with published results that used it.
import { studentTQuantile, studentTTwoSidedP } from "./distributions.ts";
import { checkConfidence, type EffectResult, relativeInterval, type TestOptions } from "./effect-estimate.ts";
import { checkCount, checkFinite, type Failure, failure, firstNonFinite } from "./outcome.ts";
import { powerCheck } from "./power.ts";

export interface SampleSummary {
  n: number;
  mean: number;
  /** sample variance (divided by n − 1) */
  variance: number;
}

export interface SampleTotals {
  n: number;
  sum: number;
  sumSquares: number;
}

export type SummaryResult = ({ ok: true } & SampleSummary) | Failure;

/** Mean and variance of raw values (Welford's update, stable for large revenues); NaN or ±Infinity is refused. */
export function summarizeSample(values: ArrayLike<number>): SummaryResult {
  const bad = firstNonFinite(values);
  if (bad >= 0) return failure(`value #${bad} is not a finite number (${String(values[bad])})`);
  let mean = 0;
  let m2 = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i] ?? 0;
    const delta = x - mean;
    mean += delta / (i + 1);
    m2 += delta * (x - mean);
  }
  const n = values.length;
  return { ok: true, n, mean, variance: n > 1 ? m2 / (n - 1) : 0 };
}

/** Mean and variance from SQL-style totals (count, sum, sum of squares). */
export function summaryFromTotals(totals: SampleTotals): SummaryResult {
  const bad =
    checkCount(totals.n, "n") ??
    checkFinite(totals.sum, "sum") ??
    checkFinite(totals.sumSquares, "sumSquares");
  if (bad) return failure(bad);
  if (totals.n === 0) return { ok: true, n: 0, mean: 0, variance: 0 };
  const mean = totals.sum / totals.n;
  const variance = totals.n > 1 ? Math.max(0, (totals.sumSquares - totals.sum * mean) / (totals.n - 1)) : 0;
  return { ok: true, n: totals.n, mean, variance };
}

export interface WelchOptions extends TestOptions {
  /** Student's t-test with a pooled variance instead of Welch's; default false */
  equalVariance?: boolean;
}

function checkSummary(s: SampleSummary, name: string): string | null {
  const bad = checkCount(s.n, `${name}.n`) ?? checkFinite(s.mean, `${name}.mean`);
  if (bad) return bad;
  if (!Number.isFinite(s.variance) || s.variance < 0) return `${name}.variance must be finite and ≥ 0`;
  if (s.n < 2) return `${name} group needs at least 2 customers for a t-test, has ${s.n}`;
  return null;
}

export function welchTTest(
  control: SampleSummary,
  treatment: SampleSummary,
  options: WelchOptions = {},
): EffectResult {
  const bad =
    checkSummary(control, "control") ?? checkSummary(treatment, "treatment") ?? checkConfidence(options);
  if (bad) return failure(bad);
  const alpha = 1 - (options.confidence ?? 0.95);
  const difference = treatment.mean - control.mean;
  const { se, df } = options.equalVariance ? pooledError(control, treatment) : welchError(control, treatment);
  if (se === 0 && difference !== 0) {
    return failure(
      "every customer within each group has the same value, but the groups differ: a t-test is undefined",
    );
  }
  const t = se > 0 ? difference / se : 0;
  const critical = studentTQuantile(1 - alpha / 2, df);
  return {
    ok: true,
    control: control.mean,
    treatment: treatment.mean,
    difference,
    relativeDifference: control.mean === 0 ? null : treatment.mean / control.mean - 1,
    ci: { lower: difference - critical * se, upper: difference + critical * se },
    relativeCi: relativeInterval(
      control.mean,
      treatment.mean,
      control.variance / control.n,
      treatment.variance / treatment.n,
      critical,
    ),
    pValue: se > 0 ? studentTTwoSidedP(t, df) : 1,
    statistic: t,
    degreesOfFreedom: df,
    standardError: se,
    power: powerCheck(difference, se, { alpha, power: options.power ?? 0.8 }),
  };
}

function welchError(c: SampleSummary, t: SampleSummary): { se: number; df: number } {
  const vc = c.variance / c.n;
  const vt = t.variance / t.n;
  const se = Math.sqrt(vc + vt);
  const denominator = (vc * vc) / (c.n - 1) + (vt * vt) / (t.n - 1);
  // With no variance at all the df is undefined; n − 2 is the limit of both formulas for equal groups.
  const df = denominator > 0 ? (vc + vt) ** 2 / denominator : c.n + t.n - 2;
  return { se, df };
}

function pooledError(c: SampleSummary, t: SampleSummary): { se: number; df: number } {
  const df = c.n + t.n - 2;
  const pooled = ((c.n - 1) * c.variance + (t.n - 1) * t.variance) / df;
  return { se: Math.sqrt(pooled * (1 / c.n + 1 / t.n)), df };
}
