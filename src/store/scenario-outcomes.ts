// Outcomes of the engine's own journeys, set-wise: each customer's first entry in a period (of one scenario, or of
// any marketing scenario for the whole strategy), the goal conversion and the revenue net of refunds inside the
// goal window counted from that entry, and the cost of the messages actually sent — summed per group in one query,
// so the report needs no row per customer (except the bootstrap, which asks for the revenues themselves).
import type { Db } from "./db.ts";
import { kindAmong } from "./event-sql.ts";

export interface OutcomeQuery {
  workspaceId: number;
  /** the scenarios whose entries count; for the strategy: every marketing scenario */
  scenarios: readonly string[];
  /** `scenario#version` of entries made while the scenario was in pilot mode */
  pilotKeys: readonly string[];
  /** for the strategy: pilot entries are left out altogether rather than reported apart */
  dropPilot: boolean;
  goalEvents: readonly string[];
  /** SQL over `e.properties` narrowing the goal events (a goal's `where`), with its bind values after ours */
  goalFilter: { sql: string; values: unknown[] } | null;
  windowMs: number;
  from: Date;
  to: Date;
  /** cost of the counted entry's messages (a scenario), or of every marketing message in the window (strategy) */
  costBy: "entry" | "window";
  /** only customers whose window has closed by `to` (the sequential test) */
  closedOnly: boolean;
}

export interface GroupTotals {
  variant: string | null;
  globalControl: boolean | null;
  pilot: boolean;
  /** the group's customers are still inside their goal window at `to` */
  open: boolean;
  n: number;
  conversions: number;
  revenue: number;
  revenueSquares: number;
  /** customers whose goal window is still open at `to` (n when `open`, else 0: it adds up across groups) */
  pending: number;
  sent: number;
  cost: number;
}

// Goal events are read through the track-kind index, orders and refunds from order_facts (store/event-sql.ts).
const SENT = "('sent', 'delivered', 'opened', 'clicked', 'bounced')";

function build(q: OutcomeQuery): { ctes: string; values: unknown[] } {
  const fixed: unknown[] = [
    q.workspaceId,
    [...q.scenarios],
    q.from,
    q.to,
    [...q.pilotKeys],
    [...q.goalEvents],
    q.windowMs,
  ];
  const filter = q.goalFilter;
  const values = filter ? [...fixed, ...filter.values.slice(fixed.length)] : fixed;
  const goal = `e.name = ANY($6::text[])${filter ? ` AND (${filter.sql})` : ""}`;
  const end = "LEAST(f.entered_at + $7::float8 * interval '1 millisecond', $4::timestamptz)";
  const cost =
    q.costBy === "entry"
      ? "m.entry_id = f.entry_id"
      : `m.customer_id = f.customer_id AND m.kind = 'marketing' AND m.sent_at >= f.entered_at AND m.sent_at <= ${end}`;
  // The outcomes (o) and costs (c) per customer are materialized: without statistics on the entries (the
  // embedded database has no autovacuum, and a new workspace is in none) f is estimated at one row, and the
  // planner put o and c inside a nested loop over f, aggregating every customer's events again for each customer
  // (25 s for 400 customers on the embedded database). Computed once each, they cost the same whatever the estimate.
  const ctes = `WITH f AS (
  SELECT DISTINCT ON (se.customer_id) se.customer_id, se.entry_id, se.entered_at, se.variant, se.global_control,
         (se.scenario || '#' || se.version) = ANY($5::text[]) AS pilot,
         se.entered_at + $7::float8 * interval '1 millisecond' > $4::timestamptz AS pending
    FROM scenario_entries se
   WHERE se.workspace_id = $1 AND se.scenario = ANY($2::text[]) AND se.entered_at >= $3 AND se.entered_at < $4
     ${q.dropPilot ? "AND NOT (se.scenario || '#' || se.version) = ANY($5::text[])" : ""}
     ${q.closedOnly ? "AND se.entered_at + $7::float8 * interval '1 millisecond' <= $4::timestamptz" : ""}
   ORDER BY se.customer_id, se.entered_at, se.entry_id
), o AS MATERIALIZED (
  SELECT f.customer_id, COALESCE(bool_or(x.goal), false) AS converted, COALESCE(sum(x.revenue), 0) AS revenue
    FROM f LEFT JOIN (
      -- the goal events and the orders of the period (an entry's window ends by its close): a goal that is an
      -- order is in both, once as the goal and once as revenue
      SELECT e.customer_id, e.occurred_at, ${goal} AS goal, 0 AS revenue
        FROM events e
       WHERE e.workspace_id = $1 AND e.type = 'track' AND e.name = ANY($6::text[])
         AND ${kindAmong("e", "$6::text[]")}
         AND e.occurred_at >= $3 AND e.occurred_at <= $4
      UNION ALL
      SELECT r.customer_id, r.occurred_at, false, CASE WHEN r.refund THEN -abs(r.amount) ELSE r.amount END
        FROM order_facts r
       WHERE r.workspace_id = $1 AND r.occurred_at >= $3 AND r.occurred_at <= $4
    ) x ON x.customer_id = f.customer_id AND x.occurred_at >= f.entered_at AND x.occurred_at <= ${end}
   GROUP BY f.customer_id
), c AS MATERIALIZED (
  SELECT f.customer_id, count(*) AS sent, sum(m.cost) AS cost
    FROM f JOIN messages m ON m.workspace_id = $1 AND ${cost} AND m.fate IN ${SENT}
   GROUP BY f.customer_id
)`;
  return { ctes, values };
}

/** Totals per (variant, global control, pilot) group. */
export async function outcomeTotals(db: Db, q: OutcomeQuery): Promise<GroupTotals[]> {
  const { ctes, values } = build(q);
  const { rows } = await db.pool.query<{
    variant: string | null;
    global_control: boolean | null;
    pilot: boolean;
    open: boolean;
    n: string;
    conversions: string;
    revenue: string;
    revenue_squares: string;
    pending: string;
    sent: string;
    cost: string;
  }>(
    `${ctes}
SELECT f.variant, f.global_control, f.pilot, f.pending AS open, count(*) AS n,
       count(*) FILTER (WHERE o.converted) AS conversions,
       sum(o.revenue) AS revenue, sum(o.revenue * o.revenue) AS revenue_squares,
       COALESCE(sum(c.sent), 0) AS sent, COALESCE(sum(c.cost), 0) AS cost
  FROM f JOIN o ON o.customer_id = f.customer_id LEFT JOIN c ON c.customer_id = f.customer_id
 GROUP BY f.variant, f.global_control, f.pilot, f.pending
 ORDER BY f.pilot, f.global_control NULLS FIRST, f.variant NULLS FIRST, f.pending`,
    values,
  );
  return rows.map((r) => ({
    variant: r.variant,
    globalControl: r.global_control,
    pilot: r.pilot,
    open: r.open,
    n: Number(r.n),
    conversions: Number(r.conversions),
    revenue: Number(r.revenue),
    revenueSquares: Number(r.revenue_squares),
    pending: r.open ? Number(r.n) : 0,
    sent: Number(r.sent),
    cost: Number(r.cost),
  }));
}

/** Each counted customer's revenue with their group, for a bootstrap interval. */
export async function outcomeRevenues(
  db: Db,
  q: OutcomeQuery,
): Promise<{ variant: string | null; globalControl: boolean | null; pilot: boolean; revenue: number }[]> {
  const { ctes, values } = build(q);
  const { rows } = await db.pool.query<{
    variant: string | null;
    global_control: boolean | null;
    pilot: boolean;
    revenue: string;
  }>(
    `${ctes}
SELECT f.variant, f.global_control, f.pilot, o.revenue FROM f JOIN o ON o.customer_id = f.customer_id
 ORDER BY f.customer_id`,
    values,
  );
  return rows.map((r) => ({
    variant: r.variant,
    globalControl: r.global_control,
    pilot: r.pilot,
    revenue: Number(r.revenue),
  }));
}

/** `scenario#version` keys of every stored version in which these scenarios ran in pilot mode. */
export async function pilotKeys(
  db: Db,
  workspaceId: number,
  scenarios: readonly string[],
): Promise<string[]> {
  const { rows } = await db.pool.query<{ k: string }>(
    `SELECT s.name || '#' || v.version AS k
       FROM strategy_versions v CROSS JOIN unnest($2::text[]) AS s(name)
      WHERE v.workspace_id = $1 AND v.document #>> ARRAY['scenarios', s.name, 'mode'] = 'pilot'`,
    [workspaceId, [...scenarios]],
  );
  return rows.map((r) => r.k);
}
