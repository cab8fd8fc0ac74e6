// What the scenario effect report and the experiment monitor share: the outcome query of a scenario (or of the
// whole strategy) over a period, and an experiment's arms and sequential look from its group totals.
import type { ConditionEnv } from "../core/condition/index.ts";
import { CONTROL_ARM } from "../core/experiment/index.ts";
import { compileEventFilter } from "../store/condition-sql.ts";
import type { Db } from "../store/db.ts";
import { type ExperimentDecision, experimentDecision, experimentKey } from "../store/experiment-decisions.ts";
import {
  leadingValues,
  type OutcomeQuery,
  outcomeTotals,
  pilotKeys,
  type GroupTotals as StoredTotals,
} from "../store/scenario-outcomes.ts";
import type { Goal, Scenario, Strategy } from "../strategy/types.ts";
import { addTotals, EMPTY, type GroupTotals } from "./effect-comparison.ts";
import type { ExperimentStatus, ScenarioEffect } from "./scenario-effect-types.ts";
import { lookAt, metricOf } from "./scenario-winner.ts";

const EVENT_ONLY_ENV: ConditionEnv = {
  channels: {},
  segments: new Map(),
  stages: [],
  allowSinceEntry: false,
};

export type Row = StoredTotals;
export const sum = (rows: readonly Row[]): GroupTotals =>
  rows.reduce<GroupTotals>((a, r) => addTotals(a, r), EMPTY);

export interface Ctx {
  db: Db;
  workspaceId: number;
  strategy: Strategy;
  from: Date;
  to: Date;
  pilots: string[];
  bootstrap: boolean;
  /** the variant tests' status is computed (not for the metrics tree) */
  experiments: boolean;
}

/** Scenarios (or, for the strategy, every marketing scenario at once) measured together against their goals. */
export interface Measured {
  key: string;
  scenarios: readonly Scenario[];
  goals: readonly Goal[];
}

/**
 * The outcome query of one or more groups: each scenario on its own (perScenario: cost by entry, pilot entries
 * reported apart), or the whole strategy. A goal with a `where` is measured alone (its filter is one group's).
 */
export function query(ctx: Ctx, measured: readonly Measured[], perScenario: boolean): OutcomeQuery {
  const groups = measured.map((m) => ({
    key: m.key,
    scenarios: m.scenarios.map((s) => s.name),
    goalEvents: [...new Set(m.goals.map((g) => g.event))],
    windowMs: Math.max(0, ...m.goals.map((g) => g.windowMs)),
  }));
  const only = measured.length === 1 && measured[0]?.goals.length === 1 ? measured[0].goals[0] : undefined;
  if (measured.length > 1 && measured.some((m) => m.goals.some((g) => g.where)))
    throw new Error("a goal with a condition is measured alone");
  const leading = leadingValues(
    ctx.workspaceId,
    groups.flatMap((g) => g.scenarios),
    ctx.from,
    ctx.to,
    ctx.pilots,
    groups.flatMap((g) => g.goalEvents),
  );
  return {
    workspaceId: ctx.workspaceId,
    groups,
    pilotKeys: ctx.pilots,
    dropPilot: !perScenario,
    goalFilter: only?.where ? compileEventFilter(only.where.ast, EVENT_ONLY_ENV, ctx.to, leading) : null,
    from: ctx.from,
    to: ctx.to,
    costBy: perScenario ? "entry" : "window",
    closedOnly: false,
    currency: ctx.strategy.currency,
  };
}

/** The outcome query of scenarios each measured on its own against its goal, in one pass. */
export function scenariosQuery(ctx: Ctx, list: readonly { sc: Scenario; goal: Goal }[]): OutcomeQuery {
  return query(
    ctx,
    list.map(({ sc, goal }) => ({ key: sc.name, scenarios: [sc], goals: [goal] })),
    true,
  );
}

export async function experimentStatus(
  ctx: Ctx,
  sc: Scenario,
  rows: readonly Row[],
  controlSource: ScenarioEffect["controlSource"],
): Promise<ExperimentStatus> {
  const exp = sc.experiment;
  const metric = metricOf(ctx.strategy, sc);
  const key = exp ? experimentKey(exp) : "";
  const stored: ExperimentDecision | null = await experimentDecision(
    ctx.db.pool,
    ctx.workspaceId,
    sc.name,
    key,
  );
  const status: ExperimentStatus = {
    winnerAction: exp?.winner ?? "report",
    metric,
    decision: stored && {
      winner: stored.winner,
      declaredAt: stored.declaredAt?.toISOString() ?? null,
      looks: stored.looks,
      lastLookAt: stored.lastLookAt?.toISOString() ?? null,
      statistics: stored.statistics,
    },
    look: null,
    lookError: null,
  };
  // The test's looks see every entry up to `to`: a report over a later period alone needs its own query.
  const { control, variants } =
    ctx.from.getTime() <= 0
      ? experimentArms(
          rows.filter((r) => !r.open),
          sc,
          controlSource,
        )
      : await closedWindowTotals(ctx.db, ctx.workspaceId, ctx.strategy, sc, ctx.to);
  const r = lookAt(control, variants, metric, stored?.pValues ?? {});
  if (r.ok) status.look = r.look;
  else status.lookError = r.reason;
  return status;
}

/** An experiment's control and variants from group totals: live customers outside the global control group. */
function experimentArms(
  rows: readonly Row[],
  sc: Scenario,
  controlSource: ScenarioEffect["controlSource"],
): { control: GroupTotals; variants: Map<string, GroupTotals> } {
  const live = rows.filter((r) => !r.pilot);
  const useGlobal =
    controlSource === "global" || (controlSource === null && (sc.experiment?.control ?? 0) === 0);
  const control = useGlobal
    ? sum(live.filter((r) => r.globalControl === true))
    : sum(live.filter((r) => r.globalControl !== true && r.variant === CONTROL_ARM));
  const variants = new Map<string, GroupTotals>(
    (sc.experiment?.variants ?? []).map((v) => [
      v.name,
      sum(live.filter((r) => r.globalControl !== true && r.variant === v.name)),
    ]),
  );
  return { control, variants };
}

/** Totals of an experiment's control and variants over customers whose goal window closed by `to`. */
export async function closedWindowTotals(
  db: Db,
  workspaceId: number,
  strategy: Strategy,
  sc: Scenario,
  to: Date,
): Promise<{ control: GroupTotals; variants: Map<string, GroupTotals> }> {
  const goal = strategy.goals[sc.goal];
  if (!goal) return experimentArms([], sc, null);
  const pilots = await pilotKeys(db, workspaceId, [sc.name]);
  const ctx: Ctx = {
    db,
    workspaceId,
    strategy,
    from: new Date(0),
    to,
    pilots,
    bootstrap: false,
    experiments: false,
  };
  const rows = await outcomeTotals(db, {
    ...scenariosQuery(ctx, [{ sc, goal }]),
    closedOnly: true,
  });
  const own = rows.some((r) => r.variant === CONTROL_ARM) || (sc.experiment?.control ?? 0) > 0;
  return experimentArms(rows, sc, own ? "scenario" : "global");
}
