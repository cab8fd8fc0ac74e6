// Outcomes of the engine's own journeys, set-wise: each customer's first entry in a period (of one scenario, or of
// any marketing scenario for the whole strategy), the goal conversion and the revenue net of refunds inside the
// goal window counted from that entry, and the cost of the messages actually sent — summed per group in one query,
// so the report needs no row per customer (except the bootstrap, which asks for the revenues themselves). Several
// scenarios are measured in one query, each a group: the period's entries, goal events, orders and messages are
// read once for all of them. Goal events are read through the track-kind index; orders and refunds (and goals
// that are orders) from order_facts (store/event-sql.ts).
import { isOrderName } from "../core/event-kind.ts";
import type { Db } from "./db.ts";
import { inCurrency, kindAmong } from "./event-sql.ts";

/** A set of customers measured together: one scenario, or every marketing scenario for the whole strategy. */
export interface OutcomeGroup {
  key: string;
  /** the scenarios whose entries count; a customer counts once per group, from their first entry */
  scenarios: readonly string[];
  goalEvents: readonly string[];
  windowMs: number;
}

export interface OutcomeQuery {
  workspaceId: number;
  /** measured side by side in one pass over the entries, goal events, orders and messages */
  groups: readonly OutcomeGroup[];
  /** `scenario#version` of entries made while the scenario was in pilot mode */
  pilotKeys: readonly string[];
  /** for the strategy: pilot entries are left out altogether rather than reported apart */
  dropPilot: boolean;
  /**
   * SQL over `e.properties` narrowing the goal events (a goal's `where`; one group only), with its bind values
   * after the leading ones of `leadingValues`
   */
  goalFilter: { sql: string; values: unknown[] } | null;
  from: Date;
  to: Date;
  /** cost of the counted entry's messages (a scenario), or of every marketing message in the window (strategy) */
  costBy: "entry" | "window";
  /** only customers whose window has closed by `to` (the sequential test) */
  closedOnly: boolean;
  /**
   * the strategy's currency: an order in another is still a goal reached, but adds no revenue (null: every order
   * counts, no currency being known)
   */
  currency: string | null;
}

export interface GroupTotals {
  /** the OutcomeGroup's key */
  group: string;
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

const SENT = "('sent', 'delivered', 'opened', 'clicked', 'bounced')";

/** What the totals are grouped by: the group, the customer's arm, global control, pilot, window still open. */
const GROUP_KEYS = ["gi", "variant", "global_control", "pilot", "pending"] as const;
const KEYS = GROUP_KEYS.join(", ");
const F_KEYS = GROUP_KEYS.map((k) => `f.${k}`).join(", ");

/** The query's leading bind values, which a goal filter is compiled after ($1 … $6). */
export function leadingValues(
  workspaceId: number,
  scenarios: readonly string[],
  from: Date,
  to: Date,
  pilotKeys: readonly string[],
  goalEvents: readonly string[],
): unknown[] {
  return [workspaceId, [...scenarios], from, to, [...pilotKeys], [...goalEvents]];
}

function build(q: OutcomeQuery): { ctes: string; values: unknown[] } {
  const filter = q.goalFilter;
  if (filter && q.groups.length !== 1) throw new Error("a goal filter measures one group");
  const goalEvents = [...new Set(q.groups.flatMap((g) => g.goalEvents))];
  // A goal that is an order (and has no `where` on its properties) is read from order_facts with the revenue;
  // other goal events from the events, through the track-kind index: $6 holds the names read from the events.
  const fromOrders = filter ? [] : goalEvents.filter(isOrderName);
  const values = leadingValues(
    q.workspaceId,
    [...new Set(q.groups.flatMap((g) => g.scenarios))],
    q.from,
    q.to,
    q.pilotKeys,
    goalEvents.filter((n) => !fromOrders.includes(n)),
  );
  if (filter) values.push(...filter.values.slice(values.length));
  // each group by its index (gi), its goals once (gg); each scenario's group and window by its place in $2
  const scenarios = values[1] as string[];
  const groupOf = scenarios.map((s) => q.groups.findIndex((g) => g.scenarios.includes(s)));
  if (q.groups.some((g, gi) => g.scenarios.some((s) => groupOf[scenarios.indexOf(s)] !== gi)))
    throw new Error("a scenario is measured in one group of a query");
  const groups = q.groups.map((g, gi) => ({ gi, goals: g.goalEvents }));
  values.push(
    JSON.stringify(groups),
    fromOrders,
    groupOf,
    groupOf.map((gi) => q.groups[gi]?.windowMs ?? 0),
    q.currency,
  );
  const [groupsAt, ordersAt, giAt, windowAt, currencyAt] = [4, 3, 2, 1, 0].map(
    (back) => values.length - back,
  );
  // f: each customer's first entry per group, with the group's figures' keys (GROUP_KEYS) and the end of its window.
  // When each group is one scenario, they are found in the order of scenario_entries_customer_idx (customer,
  // scenario, time), with no sort of the period's entries.
  // o: the customers with a goal event or an order in their window, their conversion and revenue. It is
  // materialized: without statistics on the entries (the embedded database has no autovacuum, and a new workspace
  // is in none) f is estimated at one row, and the planner put o inside a nested loop over f, aggregating every
  // customer's events again for each customer (25 s for 400 customers on the embedded database).
  const firstOf =
    q.groups.length === 1 ? null : q.groups.every((g) => g.scenarios.length === 1) ? "scenario" : "gi";
  const ctes = `WITH gg AS (
  SELECT * FROM json_to_recordset($${groupsAt}::json) AS g(gi integer, goals text[])
), entries AS (
  SELECT se.customer_id, se.scenario, se.entry_id, se.entered_at, se.variant, se.global_control,
         (cardinality($5::text[]) > 0 AND (se.scenario || '#' || se.version) = ANY($5::text[])) AS pilot,
         ($${giAt}::int[])[array_position($2::text[], se.scenario)] AS gi,
         se.entered_at
           + ($${windowAt}::float8[])[array_position($2::text[], se.scenario)] * interval '1 millisecond' AS ends
    FROM scenario_entries se
   WHERE se.workspace_id = $1 AND se.scenario = ANY($2::text[]) AND se.entered_at >= $3 AND se.entered_at < $4
), f AS (
  SELECT DISTINCT ON (e.customer_id${firstOf ? `, e.${firstOf}` : ""})
         e.gi, e.customer_id, e.entry_id, e.entered_at, LEAST(e.ends, $4::timestamptz) AS until, e.variant,
         e.global_control, e.pilot, e.ends > $4::timestamptz AS pending
    FROM entries e
   WHERE true ${q.dropPilot ? "AND NOT e.pilot" : ""} ${q.closedOnly ? "AND e.ends <= $4::timestamptz" : ""}
   ORDER BY e.customer_id, ${firstOf ? `e.${firstOf}, ` : ""}e.entered_at, e.entry_id
), x AS MATERIALIZED (
  -- the goal events and the orders of the period (an entry's window ends by its close); an order is a goal (read
  -- from order_facts) and revenue in one row
  SELECT e.customer_id, e.occurred_at, e.name, ${filter ? `(${filter.sql})` : "true"} AS goal, 0 AS revenue
    FROM events e
   WHERE e.workspace_id = $1 AND e.type = 'track' AND e.name = ANY($6::text[])
     AND ${kindAmong("e", "$6::text[]")}
     AND e.occurred_at >= $3 AND e.occurred_at <= $4
  UNION ALL
  SELECT r.customer_id, r.occurred_at, r.name, r.name = ANY($${ordersAt}::text[]),
         CASE WHEN NOT ${inCurrency("r", `$${currencyAt}`)} THEN 0 WHEN r.refund THEN -abs(r.amount) ELSE r.amount END
    FROM order_facts r
   WHERE r.workspace_id = $1 AND r.occurred_at >= $3 AND r.occurred_at <= $4
), fx AS MATERIALIZED (
  -- the first entries of customers with an event, found by a semi-join on those few customers before the windows
  -- are matched: joined directly, every entry of the period was sorted by customer
  SELECT * FROM f WHERE f.customer_id IN (SELECT customer_id FROM x)
), o AS MATERIALIZED (
  SELECT ${F_KEYS}, f.customer_id,
         bool_or(x.goal AND x.name = ANY(gg.goals)) AS converted, sum(x.revenue) AS revenue
    FROM fx f
    JOIN gg ON gg.gi = f.gi
    JOIN x ON x.customer_id = f.customer_id AND x.occurred_at >= f.entered_at AND x.occurred_at <= f.until
   GROUP BY ${F_KEYS}, f.customer_id
)`;
  return { ctes, values };
}

/** Totals per (group, variant, global control, pilot, window open). */
export async function outcomeTotals(db: Db, q: OutcomeQuery): Promise<GroupTotals[]> {
  const { ctes, values } = build(q);
  const cost =
    q.costBy === "entry"
      ? "m.entry_id = f.entry_id"
      : "m.customer_id = f.customer_id AND m.kind = 'marketing' AND m.sent_at >= f.entered_at AND m.sent_at <= f.until";
  // Three sums per group, none needing a row per customer joined to another: customers (f), conversions and
  // revenue (o: only the customers with an event), messages sent and their cost (the period's messages of f).
  const { rows } = await db.reports.query<{
    gi: number;
    variant: string | null;
    global_control: boolean | null;
    pilot: boolean;
    pending: boolean;
    part: "f" | "o" | "c";
    a: string;
    b: string | null;
    c: string | null;
  }>(
    `${ctes}
SELECT ${KEYS}, 'f' AS part, count(*) AS a, NULL::numeric AS b, NULL::numeric AS c FROM f GROUP BY ${KEYS}
UNION ALL
SELECT ${KEYS}, 'o', count(*) FILTER (WHERE converted), sum(revenue), sum(revenue * revenue) FROM o GROUP BY ${KEYS}
UNION ALL
SELECT ${F_KEYS}, 'c', count(*), sum(m.cost), NULL
  FROM f JOIN messages m ON m.workspace_id = $1 AND ${cost} AND m.fate IN ${SENT}
                         -- an entry's messages are sent after it, so in the period or later
                         AND m.sent_at >= $3
 GROUP BY ${F_KEYS}`,
    values,
  );
  // the groups in a stable order, sorted here: an ORDER BY made the database sort every row before summing
  rows.sort(
    (a, b) =>
      a.gi - b.gi ||
      Number(a.pilot) - Number(b.pilot) ||
      nullsFirst(a.global_control, b.global_control) ||
      nullsFirst(a.variant, b.variant) ||
      Number(a.pending) - Number(b.pending),
  );
  const totals = new Map<string, GroupTotals>();
  for (const r of rows) {
    const id = JSON.stringify([r.gi, r.variant, r.global_control, r.pilot, r.pending]);
    let t = totals.get(id);
    if (!t) {
      t = {
        group: q.groups[r.gi]?.key ?? String(r.gi),
        variant: r.variant,
        globalControl: r.global_control,
        pilot: r.pilot,
        open: r.pending,
        n: 0,
        conversions: 0,
        revenue: 0,
        revenueSquares: 0,
        pending: 0,
        sent: 0,
        cost: 0,
      };
      totals.set(id, t);
    }
    if (r.part === "f") {
      t.n = Number(r.a);
      t.pending = r.pending ? t.n : 0;
    } else if (r.part === "o") {
      t.conversions = Number(r.a);
      t.revenue = Number(r.b ?? 0);
      t.revenueSquares = Number(r.c ?? 0);
    } else {
      t.sent = Number(r.a);
      t.cost = Number(r.b ?? 0);
    }
  }
  return [...totals.values()];
}

function nullsFirst<T extends string | boolean>(a: T | null, b: T | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
}

/** Each counted customer's revenue with their group, for a bootstrap interval. */
export async function outcomeRevenues(
  db: Db,
  q: OutcomeQuery,
): Promise<
  { group: string; variant: string | null; globalControl: boolean | null; pilot: boolean; revenue: number }[]
> {
  const { ctes, values } = build(q);
  const { rows } = await db.reports.query<{
    gi: number;
    variant: string | null;
    global_control: boolean | null;
    pilot: boolean;
    revenue: string;
  }>(
    `${ctes}
SELECT f.gi, f.variant, f.global_control, f.pilot, COALESCE(o.revenue, 0) AS revenue
  FROM f LEFT JOIN o ON o.gi = f.gi AND o.customer_id = f.customer_id
 ORDER BY f.gi, f.customer_id`,
    values,
  );
  return rows.map((r) => ({
    group: q.groups[r.gi]?.key ?? String(r.gi),
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
  const { rows } = await db.reports.query<{ k: string }>(
    `SELECT s.name || '#' || v.version AS k
       FROM strategy_versions v CROSS JOIN unnest($2::text[]) AS s(name)
      WHERE v.workspace_id = $1 AND v.document #>> ARRAY['scenarios', s.name, 'mode'] = 'pilot'`,
    [workspaceId, [...scenarios]],
  );
  return rows.map((r) => r.k);
}
