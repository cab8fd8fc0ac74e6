// The sequential test of each scenario experiment as stored: the running minimum of every variant's always-valid
// p-value across looks, and the winner once declared (with the time and the statistics of the deciding look).
// A declared winner is never rewritten, so routing and reports stay stable and auditable.
import type { Queryable } from "./customers.ts";

export interface ExperimentDefinition {
  variants: readonly { name: string; template: string }[];
  control: number;
}

export interface ExperimentDecision {
  scenario: string;
  experimentKey: string;
  metric: "proportion" | "mean";
  looks: number;
  lastLookAt: Date | null;
  pValues: Record<string, number>;
  winner: string | null;
  declaredAt: Date | null;
  statistics: Record<string, unknown> | null;
}

/** Identifies an experiment: the same variants, templates and control share are the same experiment. */
export function experimentKey(exp: ExperimentDefinition): string {
  const variants = [...exp.variants].map((v) => `${v.name}=${v.template}`).sort();
  return JSON.stringify({ variants, control: exp.control });
}

type Row = {
  scenario: string;
  experiment_key: string;
  metric: "proportion" | "mean";
  looks: number;
  last_look_at: Date | null;
  p_values: Record<string, number>;
  winner: string | null;
  declared_at: Date | null;
  statistics: Record<string, unknown> | null;
};

const toDecision = (r: Row): ExperimentDecision => ({
  scenario: r.scenario,
  experimentKey: r.experiment_key,
  metric: r.metric,
  looks: r.looks,
  lastLookAt: r.last_look_at,
  pValues: r.p_values,
  winner: r.winner,
  declaredAt: r.declared_at,
  statistics: r.statistics,
});

export async function experimentDecision(
  client: Queryable,
  workspaceId: number,
  scenario: string,
  key: string,
): Promise<ExperimentDecision | null> {
  const { rows } = await client.query<Row>(
    `SELECT scenario, experiment_key, metric, looks, last_look_at, p_values, winner, declared_at, statistics
       FROM scenario_experiment_decisions WHERE workspace_id = $1 AND scenario = $2 AND experiment_key = $3`,
    [workspaceId, scenario, key],
  );
  return rows[0] ? toDecision(rows[0]) : null;
}

/** The declared winner of the scenario's experiment, or null (none yet, or another experiment). */
export async function declaredWinner(
  client: Queryable,
  workspaceId: number,
  scenario: string,
  key: string,
): Promise<string | null> {
  const { rows } = await client.query<{ winner: string }>(
    `SELECT winner FROM scenario_experiment_decisions
      WHERE workspace_id = $1 AND scenario = $2 AND experiment_key = $3 AND winner IS NOT NULL`,
    [workspaceId, scenario, key],
  );
  return rows[0]?.winner ?? null;
}

/**
 * Records one look. The p-values are the running minimum; a winner, once set, is kept (the `COALESCE`s), so two
 * workers looking at once cannot replace one winner with another.
 */
export async function recordLook(
  client: Queryable,
  workspaceId: number,
  look: {
    scenario: string;
    experimentKey: string;
    metric: "proportion" | "mean";
    at: Date;
    pValues: Record<string, number>;
    winner: string | null;
    statistics: Record<string, unknown> | null;
  },
): Promise<ExperimentDecision> {
  const { rows } = await client.query<Row>(
    `INSERT INTO scenario_experiment_decisions AS d
       (workspace_id, scenario, experiment_key, metric, looks, last_look_at, p_values, winner, declared_at, statistics)
     VALUES ($1, $2, $3, $4, 1, $5, $6, $7, CASE WHEN $7::text IS NULL THEN NULL ELSE $5::timestamptz END, $8)
     ON CONFLICT (workspace_id, scenario, experiment_key) DO UPDATE SET
       looks = d.looks + 1,
       last_look_at = EXCLUDED.last_look_at,
       p_values = CASE WHEN d.winner IS NULL THEN EXCLUDED.p_values ELSE d.p_values END,
       winner = COALESCE(d.winner, EXCLUDED.winner),
       declared_at = COALESCE(d.declared_at, EXCLUDED.declared_at),
       statistics = CASE WHEN d.winner IS NULL THEN EXCLUDED.statistics ELSE d.statistics END
     RETURNING scenario, experiment_key, metric, looks, last_look_at, p_values, winner, declared_at, statistics`,
    [
      workspaceId,
      look.scenario,
      look.experimentKey,
      look.metric,
      look.at,
      JSON.stringify(look.pValues),
      look.winner,
      look.statistics === null ? null : JSON.stringify(look.statistics),
    ],
  );
  const row = rows[0];
  if (!row) throw new Error("the experiment's look was not stored");
  return toDecision(row);
}
