// The report of an experiment: per arm the customers, visit and conversion rates and spend per customer; for each
// treatment arm against the control arm the uplift with its 95% interval and p-value (two-proportion z-test for
// rates; Welch's t for spend, with Student's pooled t beside it because published results often use it, and a
// bootstrap interval on request), incremental conversions and money, and a power warning.
import {
  bootstrapMeanDifference,
  type EffectEstimate,
  type EffectResult,
  seededRandom,
  summaryFromTotals,
  twoProportionZTest,
  welchTTest,
} from "../core/stats/index.ts";
import type { Db } from "../store/db.ts";
import {
  type ArmTotals,
  type ExperimentMetric,
  experimentArmSpend,
  experimentArmTotals,
  type StoredExperiment,
} from "../store/experiments.ts";

export interface Interval {
  lower: number;
  upper: number;
}

/** An EffectEstimate as JSON can carry it (no Infinity: a z-test's degrees of freedom are null). */
export interface Effect {
  control: number;
  treatment: number;
  difference: number;
  relativeDifference: number | null;
  ci: Interval;
  relativeCi: Interval | null;
  pValue: number;
  statistic: number;
  degreesOfFreedom: number | null;
  standardError: number;
  minimumDetectableEffect: number;
  powerAtObserved: number;
  powerWarning: string | null;
}

export type EffectOrReason = Effect | { error: string };

export interface ArmReport {
  arm: string;
  control: boolean;
  customers: number;
  visits: number | null;
  visitRate: number | null;
  conversions: number | null;
  conversionRate: number | null;
  spend: number | null;
  spendPerCustomer: number | null;
  spendStandardDeviation: number | null;
}

export interface Comparison {
  arm: string;
  against: string;
  visit: EffectOrReason | null;
  conversion: EffectOrReason | null;
  /** Welch's t (unequal variances): the default */
  spend: EffectOrReason | null;
  /** Student's t with a pooled variance, as in most published analyses */
  spendPooled: EffectOrReason | null;
  spendBootstrap:
    | { ci: Interval; standardError: number; resamples: number; seed: number }
    | { error: string }
    | null;
  /** (treatment rate − control rate) × treatment customers, with its interval */
  incrementalConversions: { estimate: number; ci: Interval } | null;
  /** (treatment − control spend per customer) × treatment customers, with its interval (Welch) */
  incrementalSpend: { estimate: number; ci: Interval } | null;
  warnings: string[];
}

export interface ExperimentReport {
  experiment: string;
  controlArm: string;
  metrics: ExperimentMetric[];
  startedAt: string | null;
  customers: number;
  confidence: number;
  arms: ArmReport[];
  comparisons: Comparison[];
  warnings: string[];
}

export interface ReportOptions {
  /** bootstrap interval of the spend difference, with this many resamples (0: none) */
  bootstrapResamples?: number;
  seed?: number;
}

/** A test's result as JSON can carry it, or its reason. */
export function effect(r: EffectResult): EffectOrReason {
  if (!r.ok) return { error: r.reason };
  const e: EffectEstimate = r;
  return {
    control: e.control,
    treatment: e.treatment,
    difference: e.difference,
    relativeDifference: e.relativeDifference,
    ci: e.ci,
    relativeCi: e.relativeCi,
    pValue: e.pValue,
    statistic: e.statistic,
    degreesOfFreedom: Number.isFinite(e.degreesOfFreedom) ? e.degreesOfFreedom : null,
    standardError: e.standardError,
    minimumDetectableEffect: e.power.minimumDetectableEffect,
    powerAtObserved: e.power.powerAtObserved,
    powerWarning: e.power.warning,
  };
}

/** The difference and its interval times a number of customers: incremental conversions or money. */
export function scaled(e: EffectOrReason | null, by: number): { estimate: number; ci: Interval } | null {
  if (!e || "error" in e) return null;
  return { estimate: e.difference * by, ci: { lower: e.ci.lower * by, upper: e.ci.upper * by } };
}

function armReport(t: ArmTotals, metrics: ReadonlySet<ExperimentMetric>): ArmReport {
  const s = summaryFromTotals({ n: t.n, sum: t.spendSum, sumSquares: t.spendSumSquares });
  const spend = metrics.has("spend");
  return {
    arm: t.arm,
    control: t.isControl,
    customers: t.n,
    visits: metrics.has("visit") ? t.visits : null,
    visitRate: metrics.has("visit") && t.n > 0 ? t.visits / t.n : null,
    conversions: metrics.has("conversion") ? t.conversions : null,
    conversionRate: metrics.has("conversion") && t.n > 0 ? t.conversions / t.n : null,
    spend: spend ? t.spendSum : null,
    spendPerCustomer: spend && s.ok && t.n > 0 ? s.mean : null,
    spendStandardDeviation: spend && s.ok && t.n > 1 ? Math.sqrt(s.variance) : null,
  };
}

function compare(control: ArmTotals, arm: ArmTotals, metrics: ReadonlySet<ExperimentMetric>): Comparison {
  const rates = (pick: (t: ArmTotals) => number) =>
    effect(
      twoProportionZTest({ n: control.n, conversions: pick(control) }, { n: arm.n, conversions: pick(arm) }),
    );
  let spend: EffectOrReason | null = null;
  let spendPooled: EffectOrReason | null = null;
  if (metrics.has("spend")) {
    const c = summaryFromTotals({ n: control.n, sum: control.spendSum, sumSquares: control.spendSumSquares });
    const t = summaryFromTotals({ n: arm.n, sum: arm.spendSum, sumSquares: arm.spendSumSquares });
    if (!c.ok || !t.ok) spend = spendPooled = { error: c.ok ? (t.ok ? "" : t.reason) : c.reason };
    else {
      spend = effect(welchTTest(c, t));
      spendPooled = effect(welchTTest(c, t, { equalVariance: true }));
    }
  }
  const conversion = metrics.has("conversion") ? rates((x) => x.conversions) : null;
  const comparison: Comparison = {
    arm: arm.arm,
    against: control.arm,
    visit: metrics.has("visit") ? rates((x) => x.visits) : null,
    conversion,
    spend,
    spendPooled,
    spendBootstrap: null,
    incrementalConversions: scaled(conversion, arm.n),
    incrementalSpend: scaled(spend, arm.n),
    warnings: [],
  };
  for (const [what, e] of [
    ["conversion", conversion],
    ["spend", spend],
  ] as const) {
    if (e && "error" in e) comparison.warnings.push(`${what}: ${e.error}`);
    else if (e?.powerWarning) comparison.warnings.push(`${what}: ${e.powerWarning}`);
  }
  return comparison;
}

export async function experimentReport(
  db: Db,
  workspaceId: number,
  experiment: StoredExperiment,
  opts: ReportOptions = {},
): Promise<ExperimentReport> {
  const totals = await experimentArmTotals(db, workspaceId, experiment.id);
  const metrics = new Set(experiment.metrics);
  const control = totals.find((t) => t.arm === experiment.controlArm);
  const warnings: string[] = [];
  if (!control)
    warnings.push(`the control arm '${experiment.controlArm}' has no customers: nothing to compare with`);
  else if (control.n < 2) warnings.push(`the control arm has ${control.n} customer: too few to compare with`);
  if (metrics.size === 0) warnings.push("no outcomes were imported: only the arms' sizes are known");
  const comparisons: Comparison[] = [];
  for (const arm of totals) {
    if (!control || arm === control) continue;
    const c = compare(control, arm, metrics);
    if (metrics.has("spend") && (opts.bootstrapResamples ?? 0) > 0) {
      c.spendBootstrap = await bootstrap(db, workspaceId, experiment, control, arm, opts);
    }
    comparisons.push(c);
  }
  const first = totals.reduce<Date | null>(
    (m, t) => (m === null || t.firstStartedAt < m ? t.firstStartedAt : m),
    null,
  );
  return {
    experiment: experiment.name,
    controlArm: experiment.controlArm,
    metrics: experiment.metrics,
    startedAt: first ? first.toISOString() : null,
    customers: totals.reduce((s, t) => s + t.n, 0),
    confidence: 0.95,
    arms: totals.map((t) => armReport(t, metrics)),
    comparisons,
    warnings,
  };
}

async function bootstrap(
  db: Db,
  workspaceId: number,
  experiment: StoredExperiment,
  control: ArmTotals,
  arm: ArmTotals,
  opts: ReportOptions,
): Promise<Comparison["spendBootstrap"]> {
  const seed = opts.seed ?? 1;
  const [c, t] = await Promise.all([
    experimentArmSpend(db, workspaceId, experiment.id, control.arm),
    experimentArmSpend(db, workspaceId, experiment.id, arm.arm),
  ]);
  const r = bootstrapMeanDifference(c, t, { random: seededRandom(seed), resamples: opts.bootstrapResamples });
  if (!r.ok) return { error: r.reason };
  return { ci: r.ci, standardError: r.standardError, resamples: r.resamples, seed };
}
