// Each goal of the strategy, its target against what the scenarios pursuing it achieved in the period: the share
// of their entries (the scenario's own control arm left out) that reached the goal event within the goal's window,
// or the goal revenue per entry. Entries whose window is still open are not counted yet.

import { compileEventFilter } from "../store/condition-sql.ts";
import type { Queryable } from "../store/customers.ts";
import { goalQueryLeading, goalTotals } from "../store/period-metrics.ts";
import type { Strategy } from "../strategy/types.ts";

/** Fewer matured entries than this, and the goal's verdict is "not enough data". */
export const MIN_GOAL_ENTRIES = 30;

export type GoalVerdict = "met" | "not_met" | "not_enough_data";

export interface GoalResult {
  goal: string;
  event: string;
  windowDays: number;
  target: { kind: "conversion_rate" | "revenue_per_customer"; value: number };
  scenarios: string[];
  /** entries of the period whose window had closed */
  entries: number;
  /** entries still inside their window */
  pending: number;
  conversions: number;
  revenue: number;
  /** conversion rate (a fraction) or revenue per entry; null with no matured entry */
  actual: number | null;
  verdict: GoalVerdict;
  reason: string;
}

export async function goalResults(
  client: Queryable,
  workspaceId: number,
  strategy: Strategy,
  period: { from: Date; to: Date; now: Date },
): Promise<GoalResult[]> {
  const out: GoalResult[] = [];
  for (const goal of Object.values(strategy.goals)) {
    const scenarios = Object.values(strategy.scenarios)
      .filter((s) => s.goal === goal.name)
      .map((s) => s.name);
    const target =
      goal.target.kind === "conversion_rate"
        ? { kind: goal.target.kind, value: goal.target.rate }
        : { kind: goal.target.kind, value: goal.target.amount };
    const base = {
      goal: goal.name,
      event: goal.event,
      windowDays: goal.windowMs / 86_400_000,
      target,
      scenarios,
    };
    const none = { entries: 0, pending: 0, conversions: 0, revenue: 0, actual: null };
    if (scenarios.length === 0) {
      out.push({ ...base, ...none, verdict: "not_enough_data", reason: "no scenario pursues this goal" });
      continue;
    }
    const q = { scenarios, event: goal.event, windowMs: goal.windowMs };
    const leading = goalQueryLeading(workspaceId, period.from, period.to, period.now, q);
    let filter: { sql: string; values: unknown[] } | undefined;
    if (goal.where) {
      try {
        filter = compileEventFilter(goal.where.ast, EMPTY_ENV, period.now, leading);
      } catch (err) {
        out.push({
          ...base,
          ...none,
          verdict: "not_enough_data",
          reason: `the goal's condition cannot be measured over many events: ${(err as Error).message}`,
        });
        continue;
      }
    }
    const t = await goalTotals(client, workspaceId, period.from, period.to, period.now, {
      ...q,
      ...(filter ? { filter } : {}),
    });
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
      const pendingNote =
        t.pending > 0 ? ` (${t.pending} more still inside the ${base.windowDays}-day window)` : "";
      out.push({
        ...base,
        ...counts,
        verdict: "not_enough_data",
        reason: `${t.matured} entries with a closed window, fewer than ${MIN_GOAL_ENTRIES}${pendingNote}`,
      });
      continue;
    }
    const met = actual >= target.value;
    out.push({
      ...base,
      ...counts,
      verdict: met ? "met" : "not_met",
      reason: `${met ? "at or above" : "below"} the target over ${t.matured} entries`,
    });
  }
  return out;
}

// A goal's `where` reads the event's properties only; segments, stages and channels play no part in it.
const EMPTY_ENV = { channels: {}, segments: new Map(), stages: [], allowSinceEntry: false };
