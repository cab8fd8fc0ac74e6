// The incremental effect of the engine's own work, measured against control groups (SPEC §7): of the whole
// strategy (the global control group against everyone else), of each scenario (its control arm, or the global
// control group's customers who entered it, against the treated) and of each experiment variant (against the same
// control). Each customer counts once per scenario, from their first entry in the period, over the goal's window
// counted from that entry; customers who entered in pilot mode are reported apart. See docs/scenario-effects.md.
import { CONTROL_ARM } from "../core/experiment/index.ts";
import type { Db } from "../store/db.ts";
import { type OutcomeQuery, outcomeRevenues, outcomeTotals, pilotKeys } from "../store/scenario-outcomes.ts";
import { currentStrategyVersion } from "../store/strategies.ts";
import { loadStrategy } from "../strategy/load.ts";
import type { Goal, Scenario } from "../strategy/types.ts";
import { otherCurrenciesWarning } from "./currency-note.ts";
import { type BootstrapInput, compareGroups, figures, type GroupTotals } from "./effect-comparison.ts";
import {
  type ScenarioEffect,
  ScenarioEffectInputError,
  type ScenarioEffectOptions,
  type ScenarioEffectReport,
  type StrategyEffect,
  type VariantEffect,
} from "./scenario-effect-types.ts";
import { type Ctx, experimentStatus, query, type Row, scenariosQuery, sum } from "./scenario-experiment.ts";

export type { EffectComparison, GroupFigures } from "./effect-comparison.ts";
export * from "./scenario-effect-types.ts";
export { closedWindowTotals } from "./scenario-experiment.ts";

const DAY = 86_400_000;
const BOOTSTRAP_RESAMPLES = 2000;
const BOOTSTRAP_SEED = 1;

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
  const measured = opts.transactional ? Object.values(strategy.scenarios) : marketing;
  if (opts.scenario !== undefined && !strategy.scenarios[opts.scenario])
    throw new ScenarioEffectInputError("scenario", `no scenario '${opts.scenario}' in the strategy in force`);
  const pilots = await pilotKeys(
    db,
    workspaceId,
    measured.map((s) => s.name),
  );
  const ctx = {
    db,
    workspaceId,
    strategy,
    from,
    to,
    pilots,
    bootstrap: Boolean(opts.bootstrap),
    experiments: opts.experiments !== false,
  };
  const picked = measured.flatMap((sc) => {
    const goal = strategy.goals[sc.goal];
    return (opts.scenario === undefined || sc.name === opts.scenario) && goal ? [{ sc, goal }] : [];
  });
  // the marketing scenarios whose goals have no condition are measured in one query, the transactional ones in
  // another (their goal events are read for them only), one with a condition alone; these queries and the
  // strategy's are independent and run side by side on the pool
  const plain = (kind: Scenario["kind"]) => picked.filter(({ sc, goal }) => !goal.where && sc.kind === kind);
  const together = [plain("marketing"), plain("transactional")].filter((list) => list.length > 0);
  const alone = picked.filter(({ goal }) => goal.where).map((p) => [p]);
  const [other, strategyResult, ...totals] = await Promise.all([
    opts.currencyWarning === false
      ? null
      : otherCurrenciesWarning(db.reports, workspaceId, from, to, strategy.currency),
    strategyEffect(ctx, marketing),
    ...[...together, ...alone].map((list) => outcomeTotals(ctx.db, scenariosQuery(ctx, list))),
  ]);
  const rows = totals.flat();
  const scenarios = await Promise.all(
    picked.map(({ sc, goal }) =>
      scenarioEffect(
        ctx,
        sc,
        goal,
        rows.filter((r) => r.group === sc.name),
      ),
    ),
  );
  return {
    ...base,
    currency: strategy.currency,
    strategy: strategyResult,
    scenarios,
    warnings: other ? [other] : [],
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
  const q = query(ctx, [{ key: "strategy", scenarios: marketing, goals }], false);
  const rows = await outcomeTotals(ctx.db, q);
  const group = q.groups[0];
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
    goalEvents: group?.goalEvents.slice() ?? [],
    windowDays: (group?.windowMs ?? 0) / DAY,
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

async function scenarioEffect(
  ctx: Ctx,
  sc: Scenario,
  goal: Goal,
  rows: readonly Row[],
): Promise<ScenarioEffect> {
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
  const boot = controlSource
    ? await revenuesBy(ctx, scenariosQuery(ctx, [{ sc, goal }]), side, (v) => v ?? "")
    : null;
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
    treatmentClosed: figures("treatment, window closed", sum(treatedRows.filter((r) => !r.open))),
    effect,
    variants,
    experiment:
      sc.experiment && ctx.experiments ? await experimentStatus(ctx, sc, rows, controlSource) : null,
    pilot: pilotRows.length > 0 ? figures("pilot", sum(pilotRows)) : null,
    globalControl: figures("global control", sum(held)),
    warnings: [...warnings, ...openWindows(control, treatment)],
  };
}
