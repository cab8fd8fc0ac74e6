// The shape every two-group comparison answers with (treatment vs control), and the delta-method interval of the
// relative change that they share.
import type { Failure } from "./outcome.ts";
import type { PowerCheck } from "./power.ts";

export interface Interval {
  lower: number;
  upper: number;
}

export interface EffectEstimate {
  ok: true;
  /** the control group's rate or mean */
  control: number;
  treatment: number;
  /** treatment − control */
  difference: number;
  /** treatment / control − 1; null when the control value is 0 */
  relativeDifference: number | null;
  /** confidence interval of the difference (level from the options, default 95%) */
  ci: Interval;
  /** confidence interval of the relative difference (delta method); null when the control value is 0 */
  relativeCi: Interval | null;
  pValue: number;
  /** z or t */
  statistic: number;
  /** degrees of freedom of t; Infinity for a z-test */
  degreesOfFreedom: number;
  standardError: number;
  power: PowerCheck;
}

export type EffectResult = EffectEstimate | Failure;

export interface TestOptions {
  /** confidence level of the intervals, default 0.95 (the test's alpha is 1 − confidence) */
  confidence?: number;
  /** power the warning is judged against, default 0.8 */
  power?: number;
}

export function checkConfidence(options: TestOptions): string | null {
  const c = options.confidence ?? 0.95;
  if (!(c > 0 && c < 1)) return `confidence must be between 0 and 1, got ${String(c)}`;
  const p = options.power ?? 0.8;
  if (!(p > 0 && p < 1)) return `power must be between 0 and 1, got ${String(p)}`;
  return null;
}

/**
 * Interval of treatment/control − 1 by the delta method: Var(T/C) ≈ Var(T)/C² + T²·Var(C)/C⁴, where the
 * variances are those of the two estimates.
 */
export function relativeInterval(
  control: number,
  treatment: number,
  varianceControl: number,
  varianceTreatment: number,
  critical: number,
): Interval | null {
  if (control === 0) return null;
  const ratio = treatment / control;
  const se = Math.sqrt(varianceTreatment / control ** 2 + (treatment ** 2 * varianceControl) / control ** 4);
  return { lower: ratio - 1 - critical * se, upper: ratio - 1 + critical * se };
}
