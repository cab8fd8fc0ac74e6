// Each goal of the strategy, its target against what the scenarios pursuing it achieved in the period: the share
// of their entries (those held out in a control group left out) that reached the goal event within the goal's window,
// or the goal revenue per entry. Entries whose window is still open are not counted yet.

import { compileEventFilter } from "../store/condition-sql.ts";
import type { Queryable } from "../store/customers.ts";
import { type GoalTotals, goalQueryLeading, goalTotals } from "../store/period-metrics.ts";
import type { Goal, Strategy } from "../strategy/types.ts";

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
  const goals = Object.values(strategy.goals).map((goal) => ({
    goal,
    q: {
      goal: goal.name,
      event: goal.event,
      windowMs: goal.windowMs,
      revenueTarget: goal.target.kind === "revenue_per_customer",
      scenarios: Object.values(strategy.scenarios)
        .filter((s) => s.goal === goal.name)
        .map((s) => s.name),
    },
  }));
  // Goals without a condition on the event are measured together; each with one, alone with its filter.
  const totals = new Map<string, GoalTotals>();
  const refused = new Map<string, string>();
  const plain = goals.filter((g) => !g.goal.where && g.q.scenarios.length > 0).map((g) => g.q);
  for (const t of await goalTotals(client, workspaceId, period, plain)) totals.set(t.goal, t);
  for (const { goal, q } of goals) {
    if (!goal.where || q.scenarios.length === 0) continue;
    const leading = goalQueryLeading(workspaceId, period.from, period.to, period.now, [q]);
    let filter: { sql: string; values: unknown[] };
    try {
      filter = compileEventFilter(goal.where.ast, EMPTY_ENV, period.now, leading);
    } catch (err) {
      refused.set(
        goal.name,
        `the goal's condition cannot be measured over many events: ${(err as Error).message}`,
      );
      continue;
    }
    for (const t of await goalTotals(client, workspaceId, period, [q], filter)) totals.set(t.goal, t);
  }
  return goals.map(({ goal, q }) =>
    verdictOf(goal, q.scenarios, totals.get(goal.name), refused.get(goal.name)),
  );
}

function verdictOf(
  goal: Goal,
  scenarios: string[],
  t: GoalTotals | undefined,
  refused: string | undefined,
): GoalResult {
  const target =
    goal.target.kind === "conversion_rate"
      ? { kind: goal.target.kind, value: goal.target.rate }
      : { kind: goal.target.kind, value: goal.target.amount };
  const windowDays = goal.windowMs / 86_400_000;
  const base = { goal: goal.name, event: goal.event, windowDays, target, scenarios };
  if (!t) {
    const reason = refused ?? "no scenario pursues this goal";
    return {
      ...base,
      entries: 0,
      pending: 0,
      conversions: 0,
      revenue: 0,
      actual: null,
      verdict: "not_enough_data",
      reason,
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
      reason: `${t.matured} entries with a closed window, fewer than ${MIN_GOAL_ENTRIES}${pendingNote}`,
    };
  }
  const met = actual >= target.value;
  return {
    ...base,
    ...counts,
    verdict: met ? "met" : "not_met",
    reason: `${met ? "at or above" : "below"} the target over ${t.matured} entries`,
  };
}

// A goal's `where` reads the event's properties only; segments, stages and channels play no part in it.
const EMPTY_ENV = { channels: {}, segments: new Map(), stages: [], allowSinceEntry: false };
