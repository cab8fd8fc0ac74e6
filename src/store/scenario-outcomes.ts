// Outcomes of the engine's own journeys, set-wise: each customer's first entry in a period (of one scenario, or of
// any marketing scenario for the whole strategy), the goal conversion and the revenue net of refunds inside the
// goal window counted from that entry, and the cost of the messages actually sent — summed per group in one query,
// so the report needs no row per customer (except the bootstrap, which asks for the revenues themselves). Several
// scenarios are measured in one query, each a group: the period's entries, goal events, orders and messages are
// read once for all of them. Goal events are read through the track-kind index; orders and refunds (and goals
// that are orders) from order_facts (store/event-sql.ts).
import { createHash } from "node:crypto";
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

export const SENT = "('sent', 'delivered', 'opened', 'clicked', 'bounced')";

/**
 * The kept outcome columns of scenario_entries (migration 021) a query reads and the pass writes: the scenario's
 * own (cost by entry) or the whole strategy's (cost by window).
 */
export function keptColumns(q: Pick<OutcomeQuery, "costBy">): "kept" | "kept_all" {
  return q.costBy === "entry" ? "kept" : "kept_all";
}

/**
 * The definition a group's outcomes are computed under, as a 64-bit hash: its goal events, the goal's condition
 * (its SQL and values), window, currency and cost rule. An outcome kept under one definition is never read for
 * another. Bump `v` whenever the outcome SQL below changes what it counts.
 */
export function outcomeDefinition(q: OutcomeQuery, gi: number): string {
  const g = q.groups[gi];
  if (!g) throw new Error(`no group ${gi}`);
  const text = JSON.stringify({
    v: 1,
    goals: [...g.goalEvents].sort(),
    window: g.windowMs,
    filter: q.goalFilter ? { sql: q.goalFilter.sql, values: q.goalFilter.values.slice(LEADING) } : null,
    currency: q.currency,
    cost: q.costBy,
  });
  return createHash("sha256").update(text).digest().readBigInt64BE(0).toString();
}

/** What the totals are grouped by: the group, the customer's arm, global control, pilot, window still open. */
const GROUP_KEYS = ["gi", "variant", "global_control", "pilot", "pending"] as const;
const KEYS = GROUP_KEYS.join(", ");
const F_KEYS = GROUP_KEYS.map((k) => `f.${k}`).join(", ");

/** How many leading bind values a goal filter is compiled after. */
const LEADING = 6;

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

/** The bind values every outcome query starts with, and where the group-level ones are ($N). */
interface Bound {
  values: unknown[];
  at: { groups: number; orders: number; gi: number; window: number; currency: number; defs: number };
}

function bind(q: OutcomeQuery): Bound {
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
    q.groups.map((_, gi) => outcomeDefinition(q, gi)),
  );
  const n = values.length;
  return { values, at: { groups: n - 5, orders: n - 4, gi: n - 3, window: n - 2, currency: n - 1, defs: n } };
}

/**
 * Which sent messages `m` an entry under `alias` pays for: its own sent since it entered (a scenario), or every
 * marketing message to the customer inside the window ending at `alias.until` (the strategy).
 */
function costOf(q: OutcomeQuery, alias: string, until: string): string {
  return q.costBy === "entry"
    ? `m.entry_id = ${alias}.entry_id AND m.sent_at >= ${alias}.entered_at`
    : `m.customer_id = ${alias}.customer_id AND m.kind = 'marketing' AND m.sent_at >= ${alias}.entered_at
       AND m.sent_at <= ${alias}.${until}`;
}

/**
 * The goal events and the orders (customer, time, name, goal?, revenue) that the windows are matched against, under
 * `where` on events `e` and on order_facts `r`: an order is a goal (read from order_facts) and revenue in one row.
 * The one definition of what converts and what counts as revenue, for the reports and the outcome pass alike.
 */
function goalRows(q: OutcomeQuery, b: Bound, where: (alias: "e" | "r") => string): string {
  return `SELECT e.customer_id, e.occurred_at, e.name, ${q.goalFilter ? `(${q.goalFilter.sql})` : "true"} AS goal,
         0 AS revenue
    FROM events e
   WHERE e.workspace_id = $1 AND e.type = 'track' AND e.name = ANY($6::text[])
     AND ${kindAmong("e", "$6::text[]")}
     AND ${where("e")}
  UNION ALL
  SELECT r.customer_id, r.occurred_at, r.name, r.name = ANY($${b.at.orders}::text[]),
         CASE WHEN NOT ${inCurrency("r", `$${b.at.currency}`)} THEN 0 WHEN r.refund THEN -abs(r.amount)
              ELSE r.amount END
    FROM order_facts r
   WHERE r.workspace_id = $1 AND ${where("r")}`;
}

function build(q: OutcomeQuery): { ctes: string; values: unknown[] } {
  const b = bind(q);
  const { values } = b;
  const k = keptColumns(q);
  // f: each customer's first entry per group, with the group's figures' keys (GROUP_KEYS) and the end of its window.
  // When each group is one scenario, they are found in the order of scenario_entries_customer_idx (customer,
  // scenario, time), with no sort of the period's entries. `kept`: the entry's window has closed and its outcome
  // was kept under the group's definition, and no late event has touched the customer since (outcome_dirt): its
  // figures are read from the entry, and only the other entries are measured from the events and messages.
  // o: the customers with a goal event or an order in their window, their conversion and revenue. It is
  // materialized: without statistics on the entries (the embedded database has no autovacuum, and a new workspace
  // is in none) f is estimated at one row, and the planner put o inside a nested loop over f, aggregating every
  // customer's events again for each customer (25 s for 400 customers on the embedded database).
  const firstOf =
    q.groups.length === 1 ? null : q.groups.every((g) => g.scenarios.length === 1) ? "scenario" : "gi";
  const ctes = `WITH gg AS (
  SELECT * FROM json_to_recordset($${b.at.groups}::json) AS g(gi integer, goals text[])
), entries AS (
  SELECT se.customer_id, se.scenario, se.entry_id, se.entered_at, se.variant, se.global_control,
         (cardinality($5::text[]) > 0 AND (se.scenario || '#' || se.version) = ANY($5::text[])) AS pilot,
         ($${b.at.gi}::int[])[array_position($2::text[], se.scenario)] AS gi,
         se.entered_at
           + ($${b.at.window}::float8[])[array_position($2::text[], se.scenario)] * interval '1 millisecond' AS ends,
         se.${k}_for AS kept_for, se.${k}_converted AS kept_converted, se.${k}_revenue AS kept_revenue,
         se.${k}_sent AS kept_sent, se.${k}_cost AS kept_cost
    FROM scenario_entries se
   WHERE se.workspace_id = $1 AND se.scenario = ANY($2::text[]) AND se.entered_at >= $3 AND se.entered_at < $4
), f AS (
  SELECT DISTINCT ON (e.customer_id${firstOf ? `, e.${firstOf}` : ""})
         e.gi, e.customer_id, e.entry_id, e.entered_at, LEAST(e.ends, $4::timestamptz) AS until, e.variant,
         e.global_control, e.pilot, e.ends > $4::timestamptz AS pending,
         COALESCE(e.ends <= $4::timestamptz AND e.kept_for = ($${b.at.defs}::bigint[])[e.gi + 1]
          AND e.customer_id NOT IN (SELECT d.customer_id FROM outcome_dirt d WHERE d.workspace_id = $1), false) AS kept,
         e.kept_converted, e.kept_revenue, e.kept_sent, e.kept_cost
    FROM entries e
   WHERE true ${q.dropPilot ? "AND NOT e.pilot" : ""} ${q.closedOnly ? "AND e.ends <= $4::timestamptz" : ""}
   ORDER BY e.customer_id, ${firstOf ? `e.${firstOf}, ` : ""}e.entered_at, e.entry_id
), x AS MATERIALIZED (
  -- the goal events and the orders of the period (an entry's window ends by its close)
  ${goalRows(q, b, (a) => `${a}.occurred_at >= $3 AND ${a}.occurred_at <= $4`)}
), fx AS MATERIALIZED (
  -- the first entries of customers with an event, found by a semi-join on those few customers before the windows
  -- are matched: joined directly, every entry of the period was sorted by customer
  SELECT * FROM f WHERE NOT f.kept AND f.customer_id IN (SELECT customer_id FROM x)
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
  const cost = costOf(q, "f", "until");
  // Three sums per group, none needing a row per customer joined to another: customers (f), conversions and
  // revenue (o: only the customers with an event), messages sent and their cost (the period's messages of f);
  // the last two each summed with the kept outcomes of the entries that have one, in the database, so that money
  // adds up exactly.
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
SELECT ${KEYS}, 'o', sum(a), sum(b), sum(c) FROM (
  SELECT ${KEYS}, count(*) FILTER (WHERE converted) AS a, sum(revenue) AS b, sum(revenue * revenue) AS c
    FROM o GROUP BY ${KEYS}
  UNION ALL
  SELECT ${KEYS}, count(*) FILTER (WHERE kept_converted), sum(kept_revenue), sum(kept_revenue * kept_revenue)
    FROM f WHERE kept GROUP BY ${KEYS}
) oo GROUP BY ${KEYS}
UNION ALL
SELECT ${KEYS}, 'c', sum(a), sum(b), NULL FROM (
  SELECT ${F_KEYS}, count(*) AS a, sum(m.cost) AS b
    FROM f JOIN messages m ON m.workspace_id = $1 AND ${cost} AND m.fate IN ${SENT}
                           -- an entry's messages are sent after it, so in the period or later
                           AND m.sent_at >= $3
   WHERE NOT f.kept
   GROUP BY ${F_KEYS}
  UNION ALL
  SELECT ${KEYS}, sum(kept_sent), sum(kept_cost) FROM f WHERE kept GROUP BY ${KEYS}
) cc GROUP BY ${KEYS}`,
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
SELECT f.gi, f.variant, f.global_control, f.pilot,
       COALESCE(o.revenue, CASE WHEN f.kept THEN f.kept_revenue END, 0) AS revenue
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

/** A message that may still be sent: an entry with one has no final cost yet. */
const UNSETTLED = "('planned', 'deferred', 'awaiting_approval', 'queued', 'sending')";

/**
 * Keeps the outcome of up to `limit` entries of the query's one group (docs/metrics-tree.md, "Kept outcomes"):
 * finished entries whose goal window ended before `horizon` (`q.to`), without a message that may still be sent,
 * whose outcome is not kept under the group's definition. Each gets the conversion, revenue and messages sent with
 * their cost that the report would measure for it, by the same SQL. Entries another transaction holds are
 * skipped, so the pass never waits for a row and never deadlocks with the engine, a merge or an erasure. Returns
 * how many entries it kept.
 */
export async function keepOutcomeBatch(db: Db, q: OutcomeQuery, limit: number): Promise<number> {
  if (q.groups.length !== 1) throw new Error("the outcome pass keeps one group at a time");
  const b = bind(q);
  const k = keptColumns(q);
  const limitAt = b.values.push(limit);
  const res = await db.pool.query(
    `WITH c AS (
  SELECT se.entry_id, se.customer_id, se.entered_at,
         ($${b.at.gi}::int[])[array_position($2::text[], se.scenario)] AS gi,
         se.entered_at
           + ($${b.at.window}::float8[])[array_position($2::text[], se.scenario)] * interval '1 millisecond' AS ends
    FROM scenario_entries se
   WHERE se.workspace_id = $1 AND se.scenario = ANY($2::text[]) AND se.state <> 'active'
     AND se.entered_at >= $3
     AND se.entered_at
           + ($${b.at.window}::float8[])[array_position($2::text[], se.scenario)] * interval '1 millisecond' < $4
     AND se.${k}_for IS DISTINCT FROM ($${b.at.defs}::bigint[])[1]
     -- the strategy leaves pilot entries out: nothing to keep for it
     AND NOT ((se.scenario || '#' || se.version) = ANY($5::text[]))
     ${
       q.costBy === "entry"
         ? `AND NOT EXISTS (SELECT 1 FROM messages m
                      WHERE m.workspace_id = $1 AND m.entry_id = se.entry_id AND m.fate IN ${UNSETTLED})`
         : ""
     }
   ORDER BY se.entry_id
   LIMIT $${limitAt}
     FOR UPDATE OF se SKIP LOCKED
), gg AS (
  SELECT * FROM json_to_recordset($${b.at.groups}::json) AS g(gi integer, goals text[])
), x AS MATERIALIZED (
  ${goalRows(q, b, (a) => `${a}.customer_id IN (SELECT customer_id FROM c) AND ${a}.occurred_at >= (SELECT min(entered_at) FROM c)`)}
), o AS (
  SELECT c.entry_id, COALESCE(bool_or(x.goal AND x.name = ANY(gg.goals)), false) AS converted,
         COALESCE(sum(x.revenue), 0) AS revenue
    FROM c JOIN gg ON gg.gi = c.gi
    LEFT JOIN x ON x.customer_id = c.customer_id AND x.occurred_at >= c.entered_at AND x.occurred_at <= c.ends
   GROUP BY c.entry_id
), s AS (
  SELECT c.entry_id, count(m.message_id) AS sent, COALESCE(sum(m.cost), 0) AS cost
    FROM c LEFT JOIN messages m ON m.workspace_id = $1 AND ${costOf(q, "c", "ends")}
                                AND m.fate IN ${SENT} AND m.sent_at IS NOT NULL
   GROUP BY c.entry_id
)
UPDATE scenario_entries se
   SET ${k}_for = ($${b.at.defs}::bigint[])[1], ${k}_converted = o.converted, ${k}_revenue = o.revenue,
       ${k}_sent = s.sent, ${k}_cost = s.cost, ${k}_at = clock_timestamp()
  FROM o JOIN s USING (entry_id)
 WHERE se.workspace_id = $1 AND se.entry_id = o.entry_id`,
    b.values,
  );
  return res.rowCount ?? 0;
}
