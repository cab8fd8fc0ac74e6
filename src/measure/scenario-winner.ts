// Winners of scenario experiments under continuous monitoring: each look runs the mixture sequential test
// (always-valid p-values, core/stats sequentialTest) of every variant against the scenario's control on the goal's
// metric, over customers whose goal window has closed, carrying each variant's running minimum p-value from the
// previous look. The first look that finds a winner stores it with its statistics, and it is never changed; with
// `winner: route` the engine then sends new entrants outside the control arm to it (engine/entry-arms.ts).
// The worker looks hourly (monitorExperiments); reports show the stored decision and a look of their own.
import { type ArmTotals, type SequentialResult, sequentialTest } from "../core/stats/index.ts";
import type { Db } from "../store/db.ts";
import { type ExperimentDecision, experimentKey, recordLook } from "../store/experiment-decisions.ts";
import type { Scenario, Strategy } from "../strategy/types.ts";
import type { GroupTotals } from "./effect-comparison.ts";

export type Metric = "proportion" | "mean";

export interface SequentialArmView {
  variant: string;
  customers: number;
  control: number;
  treatment: number;
  difference: number;
  /** always-valid p-value: compare with alphaPerVariant at any look */
  pValue: number;
  /** always-valid interval of the difference; null while there is no spread to estimate it */
  ci: { lower: number; upper: number } | null;
  decision: "better" | "worse" | "undecided";
}

export interface SequentialLook {
  metric: Metric;
  controlCustomers: number;
  alphaPerVariant: number;
  arms: SequentialArmView[];
  winner: string | null;
}

export type LookResult = { ok: true; look: SequentialLook } | { ok: false; reason: string };

export function metricOf(strategy: Strategy, sc: Scenario): Metric {
  return strategy.goals[sc.goal]?.target.kind === "revenue_per_customer" ? "mean" : "proportion";
}

function armTotals(t: GroupTotals, metric: Metric): ArmTotals {
  return metric === "proportion"
    ? { n: t.n, sum: t.conversions, sumSquares: t.conversions }
    : { n: t.n, sum: t.revenue, sumSquares: t.revenueSquares };
}

/** One look: the variants of the experiment in force against the control, from closed-window totals. */
export function lookAt(
  control: GroupTotals,
  variants: ReadonlyMap<string, GroupTotals>,
  metric: Metric,
  previousPValues: Readonly<Record<string, number>>,
): LookResult {
  const r: SequentialResult = sequentialTest(
    armTotals(control, metric),
    Object.fromEntries([...variants].map(([name, t]) => [name, armTotals(t, metric)])),
    { metric, previousPValues },
  );
  if (!r.ok) return r;
  const finite = (x: number) => (Number.isFinite(x) ? x : null);
  return {
    ok: true,
    look: {
      metric,
      controlCustomers: control.n,
      alphaPerVariant: r.alphaPerArm,
      arms: r.arms.map((a) => {
        const lower = finite(a.ci.lower);
        const upper = finite(a.ci.upper);
        return {
          variant: a.name,
          customers: a.n,
          control: a.control,
          treatment: a.treatment,
          difference: a.difference,
          pValue: a.pValue,
          ci: lower === null || upper === null ? null : { lower, upper },
          decision: a.decision,
        };
      }),
      winner: r.winner,
    },
  };
}

export interface MonitorDeps {
  /** closed-window totals of a scenario's experiment at `now`: its control and each variant */
  totals(sc: Scenario, now: Date): Promise<{ control: GroupTotals; variants: Map<string, GroupTotals> }>;
}

/** Looks at every running experiment of the strategy once; returns the decisions as stored after the look. */
export async function monitorExperiments(
  db: Db,
  workspaceId: number,
  strategy: Strategy,
  now: Date,
  deps: MonitorDeps,
  previous: (sc: Scenario, key: string) => Promise<ExperimentDecision | null>,
): Promise<ExperimentDecision[]> {
  const out: ExperimentDecision[] = [];
  for (const sc of Object.values(strategy.scenarios)) {
    const exp = sc.experiment;
    if (!exp || sc.kind === "transactional") continue;
    const key = experimentKey(exp);
    const before = await previous(sc, key);
    if (before?.winner) {
      out.push(before);
      continue;
    }
    const metric = metricOf(strategy, sc);
    const { control, variants } = await deps.totals(sc, now);
    const r = lookAt(control, variants, metric, before?.pValues ?? {});
    if (!r.ok) continue;
    const pValues = Object.fromEntries(r.look.arms.map((a) => [a.variant, a.pValue]));
    const statistics = r.look.winner ? { ...r.look, lookedAt: now.toISOString() } : null;
    out.push(
      await recordLook(db.pool, workspaceId, {
        scenario: sc.name,
        experimentKey: key,
        metric,
        at: now,
        pValues,
        winner: r.look.winner,
        statistics,
      }),
    );
  }
  return out;
}
