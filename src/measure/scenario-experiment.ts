// What the scenario effect report and the experiment monitor share: the outcome query of a scenario (or of the
// whole strategy) over a period, and an experiment's arms and sequential look from its group totals.
import type { ConditionEnv } from "../core/condition/index.ts";
import { CONTROL_ARM } from "../core/experiment/index.ts";
import { compileEventFilter } from "../store/condition-sql.ts";
import type { Db } from "../store/db.ts";
import { type ExperimentDecision, experimentDecision, experimentKey } from "../store/experiment-decisions.ts";
import {
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

export function query(
  ctx: Ctx,
  scenarios: readonly Scenario[],
  goals: readonly Goal[],
  perScenario: boolean,
): OutcomeQuery {
  const fixed = [
    ctx.workspaceId,
    scenarios.map((s) => s.name),
    ctx.from,
    ctx.to,
    ctx.pilots,
    goals.map((g) => g.event),
  ];
  const windowMs = Math.max(0, ...goals.map((g) => g.windowMs));
  const only = goals.length === 1 ? goals[0] : undefined;
  return {
    workspaceId: ctx.workspaceId,
    scenarios: scenarios.map((s) => s.name),
    pilotKeys: ctx.pilots,
    dropPilot: !perScenario,
    goalEvents: [...new Set(goals.map((g) => g.event))],
    goalFilter: only?.where
      ? compileEventFilter(only.where.ast, EVENT_ONLY_ENV, ctx.to, [...fixed, windowMs])
      : null,
    windowMs,
    from: ctx.from,
    to: ctx.to,
    costBy: perScenario ? "entry" : "window",
    closedOnly: false,
  };
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
  const rows = await outcomeTotals(db, { ...query(ctx, [sc], [goal], true), closedOnly: true });
  const own = rows.some((r) => r.variant === CONTROL_ARM) || (sc.experiment?.control ?? 0) > 0;
  return experimentArms(rows, sc, own ? "scenario" : "global");
}
