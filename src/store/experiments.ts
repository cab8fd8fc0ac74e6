// Experiments run outside Tact: their definition, per-customer arm assignments and outcomes, and the per-arm
// totals a report is computed from. An import replaces the experiment's rows by customer, in one transaction, so
// importing the same file again changes nothing and a failed import leaves the previous state.
import type { Queryable } from "./customers.ts";
import { type Db, withTransaction } from "./db.ts";

export type ExperimentMetric = "visit" | "conversion" | "spend";

export interface ExperimentRow {
  customerKey: string;
  arm: string;
  isControl: boolean;
  startedAt: Date;
  /** undefined: no outcome known for this customer (counts as no visit, no conversion, no spend) */
  outcome?: { visited: boolean; converted: boolean; spend: number } | undefined;
}

export interface ExperimentDefinition {
  name: string;
  controlArm: string;
  metrics: ExperimentMetric[];
  source: Record<string, unknown>;
}

export interface StoredExperiment {
  id: string;
  name: string;
  controlArm: string;
  metrics: ExperimentMetric[];
  source: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
}

export interface ArmTotals {
  arm: string;
  isControl: boolean;
  n: number;
  visits: number;
  conversions: number;
  spendSum: number;
  spendSumSquares: number;
  firstStartedAt: Date;
}

/** The experiment exists with another control arm: re-importing it would change what the report compares. */
export class ExperimentConflictError extends Error {}

const CHUNK = 10_000;

interface ExperimentDbRow {
  experiment_id: string;
  name: string;
  control_arm: string;
  metrics: ExperimentMetric[];
  source: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
}

function fromRow(r: ExperimentDbRow): StoredExperiment {
  return {
    id: r.experiment_id,
    name: r.name,
    controlArm: r.control_arm,
    metrics: r.metrics,
    source: r.source,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export async function findExperiment(
  db: Db,
  workspaceId: number,
  name: string,
): Promise<StoredExperiment | undefined> {
  const { rows } = await db.pool.query<ExperimentDbRow>(
    "SELECT * FROM experiments WHERE workspace_id = $1 AND name = $2",
    [workspaceId, name],
  );
  return rows[0] ? fromRow(rows[0]) : undefined;
}

export async function listExperiments(db: Db, workspaceId: number): Promise<StoredExperiment[]> {
  const { rows } = await db.pool.query<ExperimentDbRow>(
    "SELECT * FROM experiments WHERE workspace_id = $1 ORDER BY name",
    [workspaceId],
  );
  return rows.map(fromRow);
}

export interface SaveResult {
  experiment: StoredExperiment;
  created: boolean;
  /** customers of this import that were already in the experiment (their rows were replaced, not added) */
  replaced: number;
  /** customers now in the experiment */
  customers: number;
  /** of them, customers whose key is a user id of a known customer */
  linkedCustomers: number;
}

/**
 * Writes an import: creates the experiment or updates it, then upserts assignments and outcomes by customer.
 * With `replace`, the experiment's earlier rows are dropped first (a corrected file that drops customers).
 */
export async function saveExperiment(
  db: Db,
  workspaceId: number,
  def: ExperimentDefinition,
  rows: readonly ExperimentRow[],
  opts: { now: Date; replace?: boolean },
): Promise<SaveResult> {
  const result = await writeExperiment(db, workspaceId, def, rows, opts);
  // Without statistics the report's join is planned as a nested loop over both tables (minutes for 64,000
  // customers on the embedded database, which has no autovacuum).
  await db.pool.query("ANALYZE experiment_assignments, experiment_outcomes");
  return result;
}

function writeExperiment(
  db: Db,
  workspaceId: number,
  def: ExperimentDefinition,
  rows: readonly ExperimentRow[],
  opts: { now: Date; replace?: boolean },
): Promise<SaveResult> {
  return withTransaction(db, async (client) => {
    if (opts.replace) await deleteExperiment(client, workspaceId, def.name);
    const { experiment, created } = await upsertDefinition(client, workspaceId, def, opts.now);
    let replaced = 0;
    for (let start = 0; start < rows.length; start += CHUNK) {
      const chunk = rows.slice(start, start + CHUNK);
      replaced += await writeChunk(client, workspaceId, experiment.id, chunk, created);
    }
    const { rows: counts } = await client.query<{ n: number; linked: number }>(
      `SELECT count(*)::int AS n, count(customer_id)::int AS linked FROM experiment_assignments
        WHERE workspace_id = $1 AND experiment_id = $2`,
      [workspaceId, experiment.id],
    );
    return {
      experiment,
      created,
      replaced,
      customers: counts[0]?.n ?? 0,
      linkedCustomers: counts[0]?.linked ?? 0,
    };
  });
}

/** Drops an experiment with its assignments and outcomes; false when there was none. */
export async function deleteExperiment(
  client: Queryable,
  workspaceId: number,
  name: string,
): Promise<boolean> {
  const { rows } = await client.query<{ experiment_id: string }>(
    "DELETE FROM experiments WHERE workspace_id = $1 AND name = $2 RETURNING experiment_id",
    [workspaceId, name],
  );
  const id = rows[0]?.experiment_id;
  if (id === undefined) return false;
  for (const table of ["experiment_assignments", "experiment_outcomes"]) {
    await client.query(`DELETE FROM ${table} WHERE workspace_id = $1 AND experiment_id = $2`, [
      workspaceId,
      id,
    ]);
  }
  return true;
}

async function upsertDefinition(
  client: Queryable,
  workspaceId: number,
  def: ExperimentDefinition,
  now: Date,
): Promise<{ experiment: StoredExperiment; created: boolean }> {
  const existing = await client.query<ExperimentDbRow>(
    "SELECT * FROM experiments WHERE workspace_id = $1 AND name = $2 FOR UPDATE",
    [workspaceId, def.name],
  );
  const old = existing.rows[0];
  if (old && old.control_arm !== def.controlArm) {
    throw new ExperimentConflictError(
      `experiment '${def.name}' exists with control arm '${old.control_arm}', not '${def.controlArm}'; ` +
        "import it under another name, or replace it with --replace",
    );
  }
  if (old) {
    const metrics = [...new Set([...old.metrics, ...def.metrics])].sort();
    const { rows } = await client.query<ExperimentDbRow>(
      `UPDATE experiments SET metrics = $3, source = $4, updated_at = $5
        WHERE workspace_id = $1 AND experiment_id = $2 RETURNING *`,
      [workspaceId, old.experiment_id, metrics, JSON.stringify(def.source), now],
    );
    return { experiment: fromRow(rows[0] ?? old), created: false };
  }
  const { rows } = await client.query<ExperimentDbRow>(
    `INSERT INTO experiments (workspace_id, name, control_arm, metrics, source, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING *`,
    [workspaceId, def.name, def.controlArm, [...def.metrics].sort(), JSON.stringify(def.source), now],
  );
  const row = rows[0];
  if (!row) throw new Error("the experiment row was not returned");
  return { experiment: fromRow(row), created: true };
}

/** Upserts one chunk; returns how many of its customers were already there. */
async function writeChunk(
  client: Queryable,
  workspaceId: number,
  experimentId: string,
  chunk: readonly ExperimentRow[],
  /** a new experiment has no earlier outcomes to clear */
  fresh: boolean,
): Promise<number> {
  const keys = chunk.map((r) => r.customerKey);
  // xmax = 0 only for freshly inserted rows: the others were already in the experiment.
  const { rows } = await client.query<{ fresh: boolean }>(
    `INSERT INTO experiment_assignments AS a
       (workspace_id, experiment_id, customer_key, customer_id, arm, is_control, started_at)
     SELECT $1, $2, r.k, i.customer_id, r.arm, r.ctl, r.at
       FROM unnest($3::text[], $4::text[], $5::boolean[], $6::timestamptz[]) AS r(k, arm, ctl, at)
       LEFT JOIN identities i ON i.workspace_id = $1 AND i.kind = 'user' AND i.value = r.k
     ON CONFLICT (workspace_id, experiment_id, customer_key) DO UPDATE
       SET customer_id = EXCLUDED.customer_id, arm = EXCLUDED.arm, is_control = EXCLUDED.is_control,
           started_at = EXCLUDED.started_at
     RETURNING (xmax = 0) AS fresh`,
    [
      workspaceId,
      experimentId,
      keys,
      chunk.map((r) => r.arm),
      chunk.map((r) => r.isControl),
      chunk.map((r) => r.startedAt),
    ],
  );
  const withOutcome = chunk.filter((r) => r.outcome);
  if (!fresh) {
    await client.query(
      `DELETE FROM experiment_outcomes WHERE workspace_id = $1 AND experiment_id = $2 AND customer_key = ANY($3)`,
      [workspaceId, experimentId, keys],
    );
  }
  if (withOutcome.length > 0) {
    await client.query(
      `INSERT INTO experiment_outcomes (workspace_id, experiment_id, customer_key, visited, converted, spend)
       SELECT $1, $2, r.k, r.v, r.c, r.s
         FROM unnest($3::text[], $4::boolean[], $5::boolean[], $6::numeric[]) AS r(k, v, c, s)`,
      [
        workspaceId,
        experimentId,
        withOutcome.map((r) => r.customerKey),
        withOutcome.map((r) => r.outcome?.visited ?? false),
        withOutcome.map((r) => r.outcome?.converted ?? false),
        withOutcome.map((r) => String(r.outcome?.spend ?? 0)),
      ],
    );
  }
  return rows.filter((r) => !r.fresh).length;
}

/** Per-arm counts and spend totals (sum and sum of squares, exact in numeric) for the report's tests. */
export async function experimentArmTotals(
  db: Db,
  workspaceId: number,
  experimentId: string,
): Promise<ArmTotals[]> {
  const { rows } = await db.pool.query<{
    arm: string;
    is_control: boolean;
    n: number;
    visits: number;
    conversions: number;
    spend_sum: string;
    spend_sq: string;
    first_started_at: Date;
  }>(
    `SELECT a.arm, bool_or(a.is_control) AS is_control, count(*)::int AS n,
            count(*) FILTER (WHERE o.visited)::int AS visits,
            count(*) FILTER (WHERE o.converted)::int AS conversions,
            COALESCE(sum(o.spend), 0)::text AS spend_sum,
            COALESCE(sum(o.spend * o.spend), 0)::text AS spend_sq,
            min(a.started_at) AS first_started_at
       FROM experiment_assignments a
       LEFT JOIN experiment_outcomes o
         ON o.workspace_id = a.workspace_id AND o.experiment_id = a.experiment_id AND o.customer_key = a.customer_key
      WHERE a.workspace_id = $1 AND a.experiment_id = $2
      GROUP BY a.arm ORDER BY a.arm`,
    [workspaceId, experimentId],
  );
  return rows.map((r) => ({
    arm: r.arm,
    isControl: r.is_control,
    n: r.n,
    visits: r.visits,
    conversions: r.conversions,
    spendSum: Number(r.spend_sum),
    spendSumSquares: Number(r.spend_sq),
    firstStartedAt: r.first_started_at,
  }));
}

/** Every customer's spend in one arm (0 without an outcome), in a stable order, for the bootstrap. */
export async function experimentArmSpend(
  db: Db,
  workspaceId: number,
  experimentId: string,
  arm: string,
): Promise<Float64Array> {
  const { rows } = await db.pool.query<{ s: string }>(
    `SELECT COALESCE(o.spend, 0)::text AS s
       FROM experiment_assignments a
       LEFT JOIN experiment_outcomes o
         ON o.workspace_id = a.workspace_id AND o.experiment_id = a.experiment_id AND o.customer_key = a.customer_key
      WHERE a.workspace_id = $1 AND a.experiment_id = $2 AND a.arm = $3
      ORDER BY a.customer_key`,
    [workspaceId, experimentId, arm],
  );
  return Float64Array.from(rows, (r) => Number(r.s));
}
