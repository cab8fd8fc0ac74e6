// Customer value in the database: the orders the models are fitted on (order_facts, kept from the events), the
// fitted models (history in value_models) and each customer's current value (customer_value, one row per customer,
// replaced as a whole by each fit so readers never see two models mixed).
import { type Db, withTransaction } from "./db.ts";
import { inCurrency } from "./event-sql.ts";

/** An order or a refund as the value models see it. */
export interface OrderEvent {
  customerId: string;
  /** epoch ms */
  at: number;
  /** revenue (or total) of the order; for a refund, the refunded amount as a positive number */
  amount: number;
  refund: boolean;
}

/**
 * Every order and refund of the workspace (order_completed / "Order Completed", order_refunded): order_facts, in
 * `currency` (the strategy's) or without one; null: every order, no currency being known.
 */
export async function loadOrderEvents(
  db: Db,
  workspaceId: number,
  currency: string | null,
): Promise<OrderEvent[]> {
  const { rows } = await db.pool.query<{ c: string; at: Date; refund: boolean; amount: string }>(
    `SELECT customer_id AS c, occurred_at AS at, refund, amount FROM order_facts o
      WHERE workspace_id = $1 AND ${inCurrency("o", "$2")}`,
    [workspaceId, currency],
  );
  return rows.map((r) => {
    const amount = Number(r.amount);
    return {
      customerId: r.c,
      at: r.at.getTime(),
      amount: r.refund ? Math.abs(amount) : amount,
      refund: r.refund,
    };
  });
}

export type ValueModelStatus = "fitted" | "partial" | "rfm_only" | "no_orders";

export interface ValueModelRecord {
  workspaceId: number;
  fittedAt: Date;
  calibrationStart: Date | null;
  calibrationEnd: Date;
  horizonDays: number;
  status: ValueModelStatus;
  reason: string | null;
  customers: number;
  repeatCustomers: number;
  bgNbd: Record<string, unknown> | null;
  gammaGamma: Record<string, unknown> | null;
  logLikelihood: number | null;
  holdout: Record<string, unknown> | null;
  seconds: number;
}

export interface StoredValueModel extends ValueModelRecord {
  modelId: string;
}

export interface CustomerValueRow {
  customerId: string;
  rfm: { r: number; f: number; m: number; code: string; group: string } | null;
  frequency: number;
  recencyWeeks: number;
  ageWeeks: number;
  monetary: number;
  expectedPurchases: number | null;
  expectedSpend: number | null;
  expectedValue: number | null;
  pAlive: number | null;
  clv: number | null;
  clvPercentile: number | null;
}

const CHUNK = 10_000;

/** Stores a fit and replaces every customer's value with its rows, in one transaction. */
export async function saveValueModel(
  db: Db,
  model: ValueModelRecord,
  rows: readonly CustomerValueRow[],
): Promise<string> {
  const id = await withTransaction(db, async (client) => {
    const { rows: inserted } = await client.query<{ model_id: string }>(
      `INSERT INTO value_models (workspace_id, fitted_at, calibration_start, calibration_end, horizon_days, status,
         reason, customers, repeat_customers, bg_nbd, gamma_gamma, log_likelihood, holdout, seconds)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING model_id`,
      [
        model.workspaceId,
        model.fittedAt,
        model.calibrationStart,
        model.calibrationEnd,
        model.horizonDays,
        model.status,
        model.reason,
        model.customers,
        model.repeatCustomers,
        model.bgNbd && JSON.stringify(model.bgNbd),
        model.gammaGamma && JSON.stringify(model.gammaGamma),
        model.logLikelihood,
        model.holdout && JSON.stringify(model.holdout),
        model.seconds,
      ],
    );
    const modelId = inserted[0]?.model_id;
    if (modelId === undefined) throw new Error("the value model row was not returned");
    await client.query("DELETE FROM customer_value WHERE workspace_id = $1", [model.workspaceId]);
    for (let start = 0; start < rows.length; start += CHUNK) {
      const chunk = rows.slice(start, start + CHUNK);
      const col = <T>(f: (r: CustomerValueRow) => T) => chunk.map(f);
      await client.query(
        `INSERT INTO customer_value (workspace_id, customer_id, model_id, fitted_at, rfm_r, rfm_f, rfm_m, rfm_code,
           rfm_group, frequency, recency_weeks, age_weeks, monetary, expected_purchases, expected_spend,
           expected_value, p_alive, clv, clv_percentile)
         SELECT $1, r.c, $2, $3, r.rr, r.rf, r.rm, r.code, r.grp, r.x, r.tx, r.t, r.m, r.ep, r.es, r.ev, r.pa, r.clv, r.pct
           FROM unnest($4::bigint[], $5::smallint[], $6::smallint[], $7::smallint[], $8::text[], $9::text[],
                       $10::int[], $11::float8[], $12::float8[], $13::float8[], $14::float8[], $15::float8[],
                       $16::float8[], $17::float8[], $18::float8[], $19::float8[])
             AS r(c, rr, rf, rm, code, grp, x, tx, t, m, ep, es, ev, pa, clv, pct)`,
        [
          model.workspaceId,
          modelId,
          model.fittedAt,
          col((r) => r.customerId),
          col((r) => r.rfm?.r ?? null),
          col((r) => r.rfm?.f ?? null),
          col((r) => r.rfm?.m ?? null),
          col((r) => r.rfm?.code ?? null),
          col((r) => r.rfm?.group ?? null),
          col((r) => r.frequency),
          col((r) => r.recencyWeeks),
          col((r) => r.ageWeeks),
          col((r) => r.monetary),
          col((r) => r.expectedPurchases),
          col((r) => r.expectedSpend),
          col((r) => r.expectedValue),
          col((r) => r.pAlive),
          col((r) => r.clv),
          col((r) => r.clvPercentile),
        ],
      );
    }
    return modelId;
  });
  await db.pool.query("ANALYZE customer_value");
  return id;
}

interface ModelDbRow {
  model_id: string;
  workspace_id: number;
  fitted_at: Date;
  calibration_start: Date | null;
  calibration_end: Date;
  horizon_days: number;
  status: ValueModelStatus;
  reason: string | null;
  customers: number;
  repeat_customers: number;
  bg_nbd: Record<string, unknown> | null;
  gamma_gamma: Record<string, unknown> | null;
  log_likelihood: number | null;
  holdout: Record<string, unknown> | null;
  seconds: number;
}

/** The newest fit of the workspace, or undefined when value was never fitted. */
export async function currentValueModel(db: Db, workspaceId: number): Promise<StoredValueModel | undefined> {
  const { rows } = await db.pool.query<ModelDbRow>(
    "SELECT * FROM value_models WHERE workspace_id = $1 ORDER BY model_id DESC LIMIT 1",
    [workspaceId],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    modelId: r.model_id,
    workspaceId: r.workspace_id,
    fittedAt: r.fitted_at,
    calibrationStart: r.calibration_start,
    calibrationEnd: r.calibration_end,
    horizonDays: r.horizon_days,
    status: r.status,
    reason: r.reason,
    customers: r.customers,
    repeatCustomers: r.repeat_customers,
    bgNbd: r.bg_nbd,
    gammaGamma: r.gamma_gamma,
    logLikelihood: r.log_likelihood,
    holdout: r.holdout,
    seconds: r.seconds,
  };
}

export interface ValueOverview {
  customers: number;
  rfmGroups: Record<string, number>;
  /** customers at or above the 90th percentile of predicted value (anchor customers) */
  anchors: number;
  /** customers with a probability of being alive below 0.3 */
  atRisk: number;
  totalClv: number | null;
}

/** Counts over the current customer values, for `tact value show`. */
export async function valueOverview(db: Db, workspaceId: number): Promise<ValueOverview> {
  const { rows } = await db.pool.query<{
    g: string | null;
    n: number;
    anchors: number;
    risk: number;
    clv: number | null;
  }>(
    `SELECT rfm_group AS g, count(*)::int AS n,
            count(*) FILTER (WHERE clv_percentile >= 90)::int AS anchors,
            count(*) FILTER (WHERE p_alive < 0.3)::int AS risk, sum(clv) AS clv
       FROM customer_value WHERE workspace_id = $1 GROUP BY rfm_group ORDER BY rfm_group`,
    [workspaceId],
  );
  const rfmGroups: Record<string, number> = {};
  let customers = 0;
  let anchors = 0;
  let atRisk = 0;
  let totalClv: number | null = null;
  for (const r of rows) {
    rfmGroups[r.g ?? "none"] = r.n;
    customers += r.n;
    anchors += r.anchors;
    atRisk += r.risk;
    if (r.clv !== null) totalClv = (totalClv ?? 0) + Number(r.clv);
  }
  return { customers, rfmGroups, anchors, atRisk, totalClv };
}

/** One customer's current value, or undefined. */
export async function customerValue(
  db: Db,
  workspaceId: number,
  customerId: string,
): Promise<Record<string, unknown> | undefined> {
  const { rows } = await db.pool.query<Record<string, unknown>>(
    "SELECT * FROM customer_value WHERE workspace_id = $1 AND customer_id = $2",
    [workspaceId, customerId],
  );
  return rows[0];
}
