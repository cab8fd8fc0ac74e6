// The incremental effect of the engine's own work, measured against control groups (SPEC §7): of the whole
// strategy (the global control group against everyone else), of each scenario (its control arm, or the global
// control group's customers who entered it, against the treated) and of each experiment variant (against the same
// control). Each customer counts once per scenario, from their first entry in the period, over the goal's window
// counted from that entry; customers who entered in pilot mode are reported apart. See docs/scenario-effects.md.
import type { ConditionEnv } from "../core/condition/index.ts";
import { CONTROL_ARM } from "../core/experiment/index.ts";
import { compileEventFilter } from "../store/condition-sql.ts";
import type { Db } from "../store/db.ts";
import { type ExperimentDecision, experimentDecision, experimentKey } from "../store/experiment-decisions.ts";
import {
  type OutcomeQuery,
  outcomeRevenues,
  outcomeTotals,
  pilotKeys,
  type GroupTotals as StoredTotals,
} from "../store/scenario-outcomes.ts";
import { currentStrategyVersion } from "../store/strategies.ts";
import { loadStrategy } from "../strategy/load.ts";
import type { Goal, Scenario, Strategy } from "../strategy/types.ts";
import {
  addTotals,
  type BootstrapInput,
  compareGroups,
  type EffectComparison,
  EMPTY,
  figures,
  type GroupFigures,
  type GroupTotals,
} from "./effect-comparison.ts";
import { lookAt, metricOf, type SequentialLook } from "./scenario-winner.ts";

export type { EffectComparison, GroupFigures } from "./effect-comparison.ts";

const DAY = 86_400_000;
const BOOTSTRAP_RESAMPLES = 2000;
const BOOTSTRAP_SEED = 1;
const EVENT_ONLY_ENV: ConditionEnv = {
  channels: {},
  segments: new Map(),
  stages: [],
  allowSinceEntry: false,
};

export interface VariantEffect {
  variant: string;
  figures: GroupFigures;
  effect: EffectComparison | null;
}

export interface ExperimentStatus {
  /** what a declared winner does: report, or route new entries to it */
  winnerAction: "report" | "route";
  metric: "proportion" | "mean";
  /** the stored decision of the continuous monitoring (the worker's looks); null before the first look */
  decision: {
    winner: string | null;
    declaredAt: string | null;
    looks: number;
    lastLookAt: string | null;
    statistics: Record<string, unknown> | null;
  } | null;
  /** a look as of the end of the period, over customers whose window has closed, carrying the stored p-values */
  look: SequentialLook | null;
  lookError: string | null;
}

export interface ScenarioEffect {
  scenario: string;
  goal: string;
  goalEvent: string;
  windowDays: number;
  mode: "live" | "pilot";
  /** scenario: its own control arm; global: its entrants in the global control group; null: none to compare with */
  controlSource: "scenario" | "global" | null;
  control: GroupFigures;
  treatment: GroupFigures;
  effect: EffectComparison | null;
  variants: VariantEffect[];
  experiment: ExperimentStatus | null;
  /** customers whose first entry in the period was made in pilot mode: counted apart, never compared */
  pilot: GroupFigures | null;
  /** entrants held out by the global control group (the scenario's control when it has no arm of its own) */
  globalControl: GroupFigures;
  warnings: string[];
}

export interface StrategyEffect {
  goalEvents: string[];
  windowDays: number;
  treatment: GroupFigures;
  control: GroupFigures;
  effect: EffectComparison | null;
  /** customers whose first entry did not record its global-control membership (entered before it was recorded) */
  unrecorded: number;
  warnings: string[];
}

export interface ScenarioEffectReport {
  from: string | null;
  to: string;
  currency: string | null;
  confidence: number;
  strategy: StrategyEffect | null;
  scenarios: ScenarioEffect[];
  warnings: string[];
}

export interface ScenarioEffectOptions {
  from?: Date;
  to: Date;
  /** a bootstrap 95% interval of each revenue difference (2,000 resamples, seed 1) */
  bootstrap?: boolean;
  /** only this scenario (the strategy part is still computed) */
  scenario?: string;
}

/** Bad input to the report: the option it names is wrong. */
export class ScenarioEffectInputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

type Row = StoredTotals;
const sum = (rows: readonly Row[]): GroupTotals => rows.reduce<GroupTotals>((a, r) => addTotals(a, r), EMPTY);

export async function scenarioEffects(
  db: Db,
  workspaceId: number,
  opts: ScenarioEffectOptions,
): Promise<ScenarioEffectReport> {
  const to = opts.to;
  const from = opts.from ?? new Date(0);
  if (!Number.isFinite(to.getTime())) throw new ScenarioEffectInputError("to", "to is not a valid time");
  if (!Number.isFinite(from.getTime()) || from.getTime() >= to.getTime())
    throw new ScenarioEffectInputError("from", "from must be a valid time before to");
  const base = { from: opts.from ? opts.from.toISOString() : null, to: to.toISOString(), confidence: 0.95 };
  const stored = await currentStrategyVersion(db.pool, workspaceId);
  const loaded = stored ? loadStrategy(stored.source, `strategy version ${stored.version}`) : null;
  if (!loaded?.ok) {
    const warning = stored ? "the strategy in force no longer loads" : "no strategy has been applied";
    return { ...base, currency: null, strategy: null, scenarios: [], warnings: [warning] };
  }
  const strategy = loaded.strategy;
  const marketing = Object.values(strategy.scenarios).filter((s) => s.kind === "marketing");
  if (opts.scenario !== undefined && !strategy.scenarios[opts.scenario])
    throw new ScenarioEffectInputError("scenario", `no scenario '${opts.scenario}' in the strategy in force`);
  const pilots = await pilotKeys(
    db,
    workspaceId,
    marketing.map((s) => s.name),
  );
  const ctx = { db, workspaceId, strategy, from, to, pilots, bootstrap: Boolean(opts.bootstrap) };
  const scenarios: ScenarioEffect[] = [];
  for (const sc of marketing) {
    if (opts.scenario !== undefined && sc.name !== opts.scenario) continue;
    const goal = strategy.goals[sc.goal];
    if (goal) scenarios.push(await scenarioEffect(ctx, sc, goal));
  }
  return {
    ...base,
    currency: strategy.currency,
    strategy: await strategyEffect(ctx, marketing),
    scenarios,
    warnings: [],
  };
}

interface Ctx {
  db: Db;
  workspaceId: number;
  strategy: Strategy;
  from: Date;
  to: Date;
  pilots: string[];
  bootstrap: boolean;
}

function query(
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

type Side = (r: { variant: string | null; globalControl: boolean | null; pilot: boolean }) => boolean | null;

/** Each customer's revenue, split into control and treatment by `side` (null: neither), for bootstrap intervals. */
async function revenuesBy(
  ctx: Ctx,
  q: OutcomeQuery,
  side: Side,
  treatmentOf: (variant: string | null) => string,
) {
  if (!ctx.bootstrap) return null;
  const control: number[] = [];
  const treatment = new Map<string, number[]>();
  for (const r of await outcomeRevenues(ctx.db, q)) {
    const s = side(r);
    if (s === true) control.push(r.revenue);
    else if (s === false) {
      const key = treatmentOf(r.variant);
      const list = treatment.get(key);
      if (list) list.push(r.revenue);
      else treatment.set(key, [r.revenue]);
    }
  }
  return (key: string | null): BootstrapInput => ({
    control,
    treatment: key === null ? [...treatment.values()].flat() : (treatment.get(key) ?? []),
    resamples: BOOTSTRAP_RESAMPLES,
    seed: BOOTSTRAP_SEED,
  });
}

async function strategyEffect(ctx: Ctx, marketing: readonly Scenario[]): Promise<StrategyEffect | null> {
  const goals = [
    ...new Set(marketing.map((s) => ctx.strategy.goals[s.goal]).filter((g): g is Goal => g !== undefined)),
  ];
  if (goals.length === 0) return null;
  const q = query(ctx, marketing, goals, false);
  const rows = await outcomeTotals(ctx.db, q);
  const control = sum(rows.filter((r) => r.globalControl === true));
  const treatment = sum(rows.filter((r) => r.globalControl === false));
  const unrecorded = sum(rows.filter((r) => r.globalControl === null)).n;
  const warnings: string[] = [];
  if (unrecorded > 0)
    warnings.push(`${unrecorded} customers entered before global-control membership was recorded: left out`);
  const effect = comparable(control, treatment, warnings, "the global control group")
    ? compareGroups(
        { treatment: "everyone else", control: "global control" },
        treatment,
        control,
        (
          await revenuesBy(
            ctx,
            q,
            (r) => r.globalControl,
            () => "all",
          )
        )?.(null) ?? null,
      )
    : null;
  return {
    goalEvents: q.goalEvents.slice(),
    windowDays: q.windowMs / DAY,
    treatment: figures("everyone else", treatment),
    control: figures("global control", control),
    effect,
    unrecorded,
    warnings: [...warnings, ...openWindows(control, treatment)],
  };
}

function comparable(control: GroupTotals, treatment: GroupTotals, warnings: string[], what: string): boolean {
  if (control.n === 0) warnings.push(`${what} has no customers in the period: nothing to compare with`);
  if (treatment.n === 0) warnings.push("no treated customers in the period: nothing to measure");
  return control.n > 0 && treatment.n > 0;
}

function openWindows(control: GroupTotals, treatment: GroupTotals): string[] {
  const open = control.pending + treatment.pending;
  return open > 0
    ? [`${open} customers are still inside their goal window: their outcomes may still grow`]
    : [];
}

async function scenarioEffect(ctx: Ctx, sc: Scenario, goal: Goal): Promise<ScenarioEffect> {
  const q = query(ctx, [sc], [goal], true);
  const rows = await outcomeTotals(ctx.db, q);
  const live = rows.filter((r) => !r.pilot);
  const held = live.filter((r) => r.globalControl === true);
  const open = live.filter((r) => r.globalControl !== true);
  const ownControl = sum(open.filter((r) => r.variant === CONTROL_ARM));
  const controlSource =
    ownControl.n > 0 || (sc.experiment?.control ?? 0) > 0 ? "scenario" : held.length > 0 ? "global" : null;
  const control = controlSource === "scenario" ? ownControl : sum(held);
  const treatedRows = open.filter((r) => r.variant !== CONTROL_ARM);
  const treatment = sum(treatedRows);
  const warnings: string[] = [];
  const side: Side = (r) => {
    if (r.pilot) return null;
    if (controlSource === "global")
      return r.globalControl === true ? true : r.variant === CONTROL_ARM ? null : false;
    return r.globalControl === true ? null : r.variant === CONTROL_ARM;
  };
  const boot = controlSource ? await revenuesBy(ctx, q, side, (v) => v ?? "") : null;
  const effect =
    controlSource && comparable(control, treatment, warnings, "the control group")
      ? compareGroups(
          { treatment: "treatment", control: "control" },
          treatment,
          control,
          boot?.(null) ?? null,
        )
      : null;
  if (!controlSource)
    warnings.push("no control group: give the scenario an experiment control share, or keep the global one");
  const variants: VariantEffect[] = (sc.experiment?.variants ?? []).map((v) => {
    const t = sum(treatedRows.filter((r) => r.variant === v.name));
    const measurable = controlSource !== null && control.n > 0 && t.n > 0;
    return {
      variant: v.name,
      figures: figures(v.name, t),
      effect: measurable
        ? compareGroups({ treatment: v.name, control: "control" }, t, control, boot?.(v.name) ?? null)
        : null,
    };
  });
  const pilotRows = rows.filter((r) => r.pilot);
  return {
    scenario: sc.name,
    goal: sc.goal,
    goalEvent: goal.event,
    windowDays: goal.windowMs / DAY,
    mode: sc.mode,
    controlSource,
    control: figures("control", control),
    treatment: figures("treatment", treatment),
    effect,
    variants,
    experiment: sc.experiment ? await experimentStatus(ctx, sc, controlSource) : null,
    pilot: pilotRows.length > 0 ? figures("pilot", sum(pilotRows)) : null,
    globalControl: figures("global control", sum(held)),
    warnings: [...warnings, ...openWindows(control, treatment)],
  };
}

async function experimentStatus(
  ctx: Ctx,
  sc: Scenario,
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
  const { control, variants } = await closedWindowTotals(
    ctx.db,
    ctx.workspaceId,
    ctx.strategy,
    sc,
    ctx.to,
    ctx.from,
    controlSource,
  );
  const r = lookAt(control, variants, metric, stored?.pValues ?? {});
  if (r.ok) status.look = r.look;
  else status.lookError = r.reason;
  return status;
}

/** Totals of an experiment's control and variants over customers whose goal window closed by `to`. */
export async function closedWindowTotals(
  db: Db,
  workspaceId: number,
  strategy: Strategy,
  sc: Scenario,
  to: Date,
  from: Date = new Date(0),
  controlSource: ScenarioEffect["controlSource"] = null,
): Promise<{ control: GroupTotals; variants: Map<string, GroupTotals> }> {
  const goal = strategy.goals[sc.goal];
  const variants = new Map<string, GroupTotals>((sc.experiment?.variants ?? []).map((v) => [v.name, EMPTY]));
  if (!goal) return { control: EMPTY, variants };
  const pilots = await pilotKeys(db, workspaceId, [sc.name]);
  const ctx: Ctx = { db, workspaceId, strategy, from, to, pilots, bootstrap: false };
  const rows = (await outcomeTotals(db, { ...query(ctx, [sc], [goal], true), closedOnly: true })).filter(
    (r) => !r.pilot,
  );
  const ownControl = sum(rows.filter((r) => r.globalControl !== true && r.variant === CONTROL_ARM));
  const useGlobal =
    controlSource === "global" || (controlSource === null && (sc.experiment?.control ?? 0) === 0);
  const control = useGlobal ? sum(rows.filter((r) => r.globalControl === true)) : ownControl;
  for (const name of variants.keys())
    variants.set(name, sum(rows.filter((r) => r.globalControl !== true && r.variant === name)));
  return { control, variants };
}
