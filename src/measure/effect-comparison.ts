// One treatment group against one control group of the engine's own customers: the goal conversion rate
// (two-proportion z-test) and revenue per customer (Welch's t, with a seeded bootstrap interval on request), the
// incremental conversions and money over the treatment group, and the return on the money its messages cost.
// Every figure is a finite number or null with a reason: a report never carries NaN or Infinity.
import {
  bootstrapMeanDifference,
  seededRandom,
  summaryFromTotals,
  twoProportionZTest,
  welchTTest,
} from "../core/stats/index.ts";
import { type EffectOrReason, effect, type Interval, scaled } from "./experiment-report.ts";

/** What one group brings: its customers, conversions, revenue and the cost of the messages sent to it. */
export interface GroupTotals {
  n: number;
  conversions: number;
  revenue: number;
  revenueSquares: number;
  pending: number;
  sent: number;
  cost: number;
}

export interface GroupFigures {
  group: string;
  customers: number;
  conversions: number;
  conversionRate: number | null;
  revenue: number;
  revenuePerCustomer: number | null;
  revenueStandardDeviation: number | null;
  messagesSent: number;
  cost: number;
  /** customers whose goal window was still open at the end of the period: their outcome may still grow */
  windowOpen: number;
}

export interface EffectComparison {
  treatment: string;
  control: string;
  conversion: EffectOrReason;
  /** revenue per customer, Welch's t-test */
  revenue: EffectOrReason;
  revenueBootstrap:
    | { ci: Interval; standardError: number; resamples: number; seed: number }
    | { error: string }
    | null;
  /** (treatment − control conversion rate) × treatment customers */
  incrementalConversions: { estimate: number; ci: Interval } | null;
  /** (treatment − control revenue per customer) × treatment customers */
  incrementalRevenue: { estimate: number; ci: Interval } | null;
  /** cost of the messages actually sent to the treatment group */
  cost: number;
  /** (incremental revenue − cost) / cost; null when nothing was spent */
  romi: { estimate: number; ci: Interval } | null;
  warnings: string[];
}

export const EMPTY: GroupTotals = {
  n: 0,
  conversions: 0,
  revenue: 0,
  revenueSquares: 0,
  pending: 0,
  sent: 0,
  cost: 0,
};

export function addTotals(a: GroupTotals, b: GroupTotals): GroupTotals {
  return {
    n: a.n + b.n,
    conversions: a.conversions + b.conversions,
    revenue: a.revenue + b.revenue,
    revenueSquares: a.revenueSquares + b.revenueSquares,
    pending: a.pending + b.pending,
    sent: a.sent + b.sent,
    cost: a.cost + b.cost,
  };
}

const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

export function figures(group: string, t: GroupTotals): GroupFigures {
  const s = summaryFromTotals({ n: t.n, sum: t.revenue, sumSquares: t.revenueSquares });
  return {
    group,
    customers: t.n,
    conversions: t.conversions,
    conversionRate: t.n > 0 ? t.conversions / t.n : null,
    revenue: t.revenue,
    revenuePerCustomer: s.ok && t.n > 0 ? finiteOrNull(s.mean) : null,
    revenueStandardDeviation: s.ok && t.n > 1 ? finiteOrNull(Math.sqrt(s.variance)) : null,
    messagesSent: t.sent,
    cost: t.cost,
    windowOpen: t.pending,
  };
}

export interface BootstrapInput {
  control: readonly number[];
  treatment: readonly number[];
  resamples: number;
  seed: number;
}

export function compareGroups(
  names: { treatment: string; control: string },
  treatment: GroupTotals,
  control: GroupTotals,
  bootstrap: BootstrapInput | null,
): EffectComparison {
  const conversion = effect(
    twoProportionZTest(
      { n: control.n, conversions: control.conversions },
      { n: treatment.n, conversions: treatment.conversions },
    ),
  );
  const c = summaryFromTotals({ n: control.n, sum: control.revenue, sumSquares: control.revenueSquares });
  const t = summaryFromTotals({
    n: treatment.n,
    sum: treatment.revenue,
    sumSquares: treatment.revenueSquares,
  });
  let revenue: EffectOrReason = !c.ok
    ? { error: c.reason }
    : !t.ok
      ? { error: t.reason }
      : effect(welchTTest(c, t));
  const warnings: string[] = [];
  if (!("error" in revenue) && revenue.control < 0) {
    // Refunds outweigh orders in the control: a ratio to a negative baseline has no meaning.
    revenue = { ...revenue, relativeDifference: null, relativeCi: null };
    warnings.push("revenue: no relative change, the control's revenue per customer is negative (refunds)");
  }
  const incrementalRevenue = scaled(revenue, treatment.n);
  for (const [what, e] of [
    ["conversion", conversion],
    ["revenue", revenue],
  ] as const) {
    if ("error" in e) warnings.push(`${what}: ${e.error}`);
    else if (e.powerWarning) warnings.push(`${what}: ${e.powerWarning}`);
  }
  let romi: EffectComparison["romi"] = null;
  if (incrementalRevenue && treatment.cost > 0) {
    const r = (x: number) => (x - treatment.cost) / treatment.cost;
    romi = {
      estimate: r(incrementalRevenue.estimate),
      ci: { lower: r(incrementalRevenue.ci.lower), upper: r(incrementalRevenue.ci.upper) },
    };
  } else if (treatment.cost === 0)
    warnings.push("ROMI: no message sent to the treatment group cost anything");
  let revenueBootstrap: EffectComparison["revenueBootstrap"] = null;
  if (bootstrap) {
    const b = bootstrapMeanDifference(bootstrap.control, bootstrap.treatment, {
      random: seededRandom(bootstrap.seed),
      resamples: bootstrap.resamples,
    });
    revenueBootstrap = b.ok
      ? { ci: b.ci, standardError: b.standardError, resamples: b.resamples, seed: bootstrap.seed }
      : { error: b.reason };
  }
  return {
    ...names,
    conversion,
    revenue,
    revenueBootstrap,
    incrementalConversions: scaled(conversion, treatment.n),
    incrementalRevenue,
    cost: treatment.cost,
    romi,
    warnings,
  };
}
