// The parts of the metrics tree that other reports compute, in the tree's own shape: the CRM contribution and each
// scenario's uplift against its control group (scenario-effect.ts: what CRM *added*), attributed revenue by
// channel and scenario (attribution-report.ts: where revenue *came from*), and NPS (nps-report.ts). Incremental
// and attributed revenue are kept under different names everywhere and never stand in for each other (SPEC §7).
import type { Db } from "../store/db.ts";
import { ATTRIBUTION_LABEL, type AttributionReport, attributionReport } from "./attribution-report.ts";
import type { EffectComparison, GroupFigures } from "./effect-comparison.ts";
import type { Interval } from "./experiment-report.ts";
import { type NpsReport, npsReport } from "./nps-report.ts";
import { type ScenarioEffectReport, scenarioEffects } from "./scenario-effect.ts";

export const INCREMENTAL_LABEL =
  "Incremental revenue: what the CRM added, measured against customers held out in a control group (treated − " +
  "control revenue per customer × treated customers), with its 95% interval.";

export interface Estimate {
  estimate: number;
  ci: Interval;
}

export interface GroupSummary {
  customers: number;
  conversionRate: number | null;
  revenuePerCustomer: number | null;
  revenue: number;
  /** customers whose goal window was still open: their outcome may still grow */
  windowOpen: number;
}

export interface Comparison {
  treatment: GroupSummary;
  control: GroupSummary;
  /** conversion rate, treated − control, with its 95% interval and p-value; null with the reason in `warnings` */
  uplift: { difference: number; relativeDifference: number | null; ci: Interval; pValue: number } | null;
  incrementalConversions: Estimate | null;
  incrementalRevenue: Estimate | null;
  cost: number;
  romi: Estimate | null;
  warnings: string[];
}

export interface Contribution extends Comparison {
  label: string;
  goalEvents: string[];
  windowDays: number;
}

export interface ScenarioEffectSummary extends Comparison {
  /** scenario: its own control arm; global: its entrants in the global control group */
  controlSource: "scenario" | "global" | null;
  goalEvent: string;
  windowDays: number;
}

export interface AttributionSummary {
  label: string;
  model: string;
  revenue: number;
  attributedRevenue: number;
  unattributedRevenue: number;
  conversions: number;
  attributedConversions: number;
}

export interface NpsSummary {
  nps: number | null;
  ci95: { low: number; high: number } | null;
  responses: number;
  promoters: number;
  passives: number;
  detractors: number;
  surveysSent: number;
  responseRate: number | null;
  byStage: { stage: string; nps: number | null; responses: number }[];
  method: string;
}

export interface Effects {
  effects: ScenarioEffectReport | null;
  attribution: AttributionReport | null;
  nps: NpsReport | null;
  /** a part that could not be computed, and why: the tree is shown without it */
  failures: string[];
}

/** Runs the three reports over the period; a report that fails leaves its section out, with the reason. */
export async function gatherEffects(
  db: Db,
  workspaceId: number,
  period: { from: Date; to: Date },
): Promise<Effects> {
  const failures: string[] = [];
  const attempt = async <T>(what: string, f: () => Promise<T>): Promise<T | null> => {
    try {
      return await f();
    } catch (err) {
      failures.push(`${what} could not be computed: ${(err as Error).message}`);
      return null;
    }
  };
  const [effects, attribution, nps] = await Promise.all([
    // the tree shows each scenario's effect, not its variant test's status (a look over every entry ever); the
    // transactional scenarios are measured for the goals' verdicts; the tree names orders in another currency
    // itself, once
    attempt("The incremental effect", () =>
      scenarioEffects(db, workspaceId, {
        ...period,
        experiments: false,
        transactional: true,
        currencyWarning: false,
      }),
    ),
    attempt("Attribution", () =>
      attributionReport(db, workspaceId, { ...period, model: "last_touch", currencyWarning: false }),
    ),
    attempt("NPS", () => npsReport(db, workspaceId, { ...period, by: "stage" })),
  ]);
  return { effects, attribution, nps, failures };
}

function summary(g: GroupFigures): GroupSummary {
  return {
    customers: g.customers,
    conversionRate: g.conversionRate,
    revenuePerCustomer: g.revenuePerCustomer,
    revenue: g.revenue,
    windowOpen: g.windowOpen,
  };
}

export function comparison(
  treatment: GroupFigures,
  control: GroupFigures,
  e: EffectComparison | null,
  warnings: string[],
): Comparison {
  const conv = e?.conversion;
  const uplift =
    conv && !("error" in conv)
      ? {
          difference: conv.difference,
          relativeDifference: conv.relativeDifference,
          ci: conv.ci,
          pValue: conv.pValue,
        }
      : null;
  const reasons = conv && "error" in conv ? [`conversion: ${conv.error}`] : [];
  return {
    treatment: summary(treatment),
    control: summary(control),
    uplift,
    incrementalConversions: e?.incrementalConversions ?? null,
    incrementalRevenue: e?.incrementalRevenue ?? null,
    cost: e?.cost ?? treatment.cost,
    romi: e?.romi ?? null,
    warnings: [...new Set([...warnings, ...reasons, ...(e?.warnings ?? [])])],
  };
}

export function contributionOf(r: ScenarioEffectReport | null): Contribution | null {
  const s = r?.strategy;
  if (!s) return null;
  return {
    label: INCREMENTAL_LABEL,
    goalEvents: s.goalEvents,
    windowDays: s.windowDays,
    ...comparison(s.treatment, s.control, s.effect, s.warnings),
  };
}

export function scenarioEffectOf(
  r: ScenarioEffectReport | null,
  scenario: string,
): ScenarioEffectSummary | null {
  const s = r?.scenarios.find((x) => x.scenario === scenario);
  if (!s) return null;
  return {
    controlSource: s.controlSource,
    goalEvent: s.goalEvent,
    windowDays: s.windowDays,
    ...comparison(s.treatment, s.control, s.effect, s.warnings),
  };
}

export function attributionOf(r: AttributionReport | null): AttributionSummary | null {
  if (!r) return null;
  return {
    label: ATTRIBUTION_LABEL,
    model: r.model,
    revenue: r.conversions.revenue,
    attributedRevenue: r.conversions.attributed.revenue,
    unattributedRevenue: r.conversions.unattributed.revenue,
    conversions: r.conversions.count,
    attributedConversions: r.conversions.attributed.count,
  };
}

export function npsOf(r: NpsReport | null): NpsSummary | null {
  if (!r) return null;
  const o = r.overall;
  return {
    nps: o.nps,
    ci95: o.ci95,
    responses: o.responses,
    promoters: o.promoters,
    passives: o.passives,
    detractors: o.detractors,
    surveysSent: r.surveysSent,
    responseRate: r.responseRate,
    byStage: r.groups.map((g) => ({ stage: g.key, nps: g.nps, responses: g.responses })),
    method: r.method,
  };
}
