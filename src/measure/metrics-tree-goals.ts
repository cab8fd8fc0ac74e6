// Each goal of the strategy, its target against what the scenarios pursuing it achieved in the period, read from
// the scenario effect report the tree computes anyway (scenario-effect.ts, transactional scenarios included): each
// scenario's treated customers (their first entry in the period; control arm, global control group and pilot
// entries left out) whose goal window had closed by the period's end, their conversions and their revenue in the
// window. Customers still inside their window are pending, not counted yet.

import type { Goal, Scenario, Strategy } from "../strategy/types.ts";
import type { ScenarioEffectReport } from "./scenario-effect.ts";

/** Fewer closed windows than this, and the goal's verdict is "not enough data". */
export const MIN_GOAL_ENTRIES = 30;

export type GoalVerdict = "met" | "not_met" | "not_enough_data";

export interface GoalResult {
  goal: string;
  event: string;
  windowDays: number;
  target: { kind: "conversion_rate" | "revenue_per_customer"; value: number };
  scenarios: string[];
  /** treated customers (each from their first entry in the period) whose window had closed by its end */
  entries: number;
  /** treated customers still inside their window */
  pending: number;
  /** of `entries`, those with the goal event in their window */
  conversions: number;
  /** their revenue in the window, net of refunds */
  revenue: number;
  /** conversion rate (a fraction) or revenue per customer; null with no closed window */
  actual: number | null;
  verdict: GoalVerdict;
  reason: string;
}

export function goalResults(
  strategy: Strategy,
  effects: ScenarioEffectReport | null,
  /** why the effect report is missing, when it is */
  failure: string,
): GoalResult[] {
  return Object.values(strategy.goals).map((goal) => {
    const scenarios = Object.values(strategy.scenarios).filter((s) => s.goal === goal.name);
    const measured = (effects?.scenarios ?? []).filter((e) => e.goal === goal.name);
    const refused =
      scenarios.length === 0
        ? "no scenario pursues this goal"
        : !effects
          ? failure
          : measured.length === 0
            ? "the scenarios pursuing it are not in the strategy in force"
            : null;
    if (refused) return verdictOf(goal, scenarios, refused);
    return verdictOf(
      goal,
      scenarios,
      measured.reduce(
        (a, e) => ({
          matured: a.matured + e.treatmentClosed.customers,
          pending: a.pending + e.treatment.windowOpen,
          converted: a.converted + e.treatmentClosed.conversions,
          revenue: a.revenue + e.treatmentClosed.revenue,
        }),
        { matured: 0, pending: 0, converted: 0, revenue: 0 },
      ),
    );
  });
}

interface GoalTotals {
  /** treated customers whose window had closed by the period's end */
  matured: number;
  /** treated customers still inside their window */
  pending: number;
  converted: number;
  revenue: number;
}

/** The goal's result from its totals, or with nothing to count and why (`t` a string). */
function verdictOf(goal: Goal, pursuing: readonly Scenario[], t: GoalTotals | string): GoalResult {
  const target =
    goal.target.kind === "conversion_rate"
      ? { kind: goal.target.kind, value: goal.target.rate }
      : { kind: goal.target.kind, value: goal.target.amount };
  const windowDays = goal.windowMs / 86_400_000;
  const base = {
    goal: goal.name,
    event: goal.event,
    windowDays,
    target,
    scenarios: pursuing.map((s) => s.name),
  };
  if (typeof t === "string") {
    return {
      ...base,
      entries: 0,
      pending: 0,
      conversions: 0,
      revenue: 0,
      actual: null,
      verdict: "not_enough_data",
      reason: t,
    };
  }
  const actual =
    t.matured === 0
      ? null
      : target.kind === "conversion_rate"
        ? t.converted / t.matured
        : t.revenue / t.matured;
  const counts = {
    entries: t.matured,
    pending: t.pending,
    conversions: t.converted,
    revenue: t.revenue,
    actual,
  };
  if (actual === null || t.matured < MIN_GOAL_ENTRIES) {
    const pendingNote = t.pending > 0 ? ` (${t.pending} more still inside the ${windowDays}-day window)` : "";
    return {
      ...base,
      ...counts,
      verdict: "not_enough_data",
      reason: `${t.matured} customers with a closed window, fewer than ${MIN_GOAL_ENTRIES}${pendingNote}`,
    };
  }
  const met = actual >= target.value;
  return {
    ...base,
    ...counts,
    verdict: met ? "met" : "not_met",
    reason: `${met ? "at or above" : "below"} the target over ${t.matured} customers`,
  };
}
