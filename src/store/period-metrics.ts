// Set-wise totals of one period for the reports: orders and refunds (with a day-by-day series), unsubscribes by
// channel, messages by scenario and channel, scenario entries, and goal conversions after entry. Each is one
// aggregate query over the period's rows, never a query per customer. Periods are half-open: from ≤ t < to.
import { isOrderName } from "../core/event-kind.ts";
import type { Queryable } from "./customers.ts";
import { kindAmong, orderAmount, trackKind } from "./event-sql.ts";

// Orders and refunds (and goals that are orders) from order_facts; unsubscribes and other goal events under the
// names the profile counts (core/event-kind.ts), read through the track-kind index (store/event-sql.ts).
const KIND = trackKind("e");

const AMOUNT = orderAmount("e");

export interface OrderTotals {
  orders: number;
  buyers: number;
  grossRevenue: number;
  refunds: number;
  refundedAmount: number;
  /** by local day of the period (YYYY-MM-DD in the given time zone), days with orders or refunds only */
  byDay: { day: string; orders: number; revenue: number }[];
  /** unsubscribe events by the channel they name */
  unsubscribes: Map<string, number>;
}

/** Orders, refunds and unsubscribes of the period in one pass over its events. */
export async function orderTotals(
  client: Queryable,
  workspaceId: number,
  from: Date,
  to: Date,
  timeZone: string,
): Promise<OrderTotals> {
  const { rows } = await client.query<{
    k: string;
    ch: string | null;
    day: string | null;
    n: string;
    buyers: string;
    amount: string | null;
  }>(
    `WITH m AS (
       SELECT o.customer_id, CASE WHEN o.refund THEN 'order_refunded' ELSE 'order_completed' END AS k,
              NULL AS ch, o.occurred_at, o.amount
         FROM order_facts o
        WHERE o.workspace_id = $1 AND o.occurred_at >= $2 AND o.occurred_at < $3
       UNION ALL
       SELECT e.customer_id, 'unsubscribed', COALESCE(e.properties ->> 'channel', '(no channel)'), e.occurred_at, 0
         FROM events e
        WHERE e.workspace_id = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3
          AND e.type = 'track' AND ${KIND} = 'unsubscribed')
     -- one pass, two groupings: totals by kind (and channel, for unsubscribes), and orders by day (grouped as a
     -- date, written as text once per day: to_char on every row took a fifth of the query over a year)
     SELECT k, ch, to_char(d, 'YYYY-MM-DD') AS day, count(*) AS n, count(DISTINCT customer_id) AS buyers,
            sum(CASE WHEN k = 'order_refunded' THEN abs(amount) ELSE amount END) AS amount
       FROM (SELECT m.*, (m.occurred_at AT TIME ZONE $4)::date AS d FROM m) m
      GROUP BY GROUPING SETS ((k, ch), (k, d))`,
    [workspaceId, from, to, timeZone],
  );
  const out: OrderTotals = {
    orders: 0,
    buyers: 0,
    grossRevenue: 0,
    refunds: 0,
    refundedAmount: 0,
    byDay: [],
    unsubscribes: new Map(),
  };
  const days = new Map<string, { day: string; orders: number; revenue: number }>();
  for (const r of rows) {
    const n = Number(r.n);
    const amount = Number(r.amount ?? 0);
    if (r.day !== null) {
      if (r.k === "unsubscribed") continue;
      const d = days.get(r.day) ?? { day: r.day, orders: 0, revenue: 0 };
      if (r.k === "order_completed") {
        d.orders += n;
        d.revenue += amount;
      } else d.revenue -= amount;
      days.set(r.day, d);
    } else if (r.k === "order_completed") {
      out.orders = n;
      out.buyers = Number(r.buyers);
      out.grossRevenue = amount;
    } else if (r.k === "order_refunded") {
      out.refunds = n;
      out.refundedAmount = amount;
    } else if (r.k === "unsubscribed") {
      out.unsubscribes.set(r.ch ?? "(no channel)", n);
    }
  }
  out.byDay = [...days.values()].sort((a, b) => (a.day < b.day ? -1 : 1));
  return out;
}

/** Fates of a message that was handed to its channel, and the further steps each implies. */
export const SENT_FATES = ["sent", "delivered", "opened", "clicked", "bounced"] as const;

export interface MessageTotals {
  scenario: string;
  channel: string;
  sent: number;
  delivered: number;
  opened: number;
  clicked: number;
  bounced: number;
  /** the cost the arbiter recorded when it chose the channel */
  recordedCost: number;
}

/**
 * Messages handed to a channel in the period (sent_at in it), by scenario and channel. A message's fate is the
 * furthest it got: an opened message was delivered, a clicked one opened.
 */
export async function messageTotals(
  client: Queryable,
  workspaceId: number,
  from: Date,
  to: Date,
): Promise<MessageTotals[]> {
  const { rows } = await client.query<{
    scenario: string;
    channel: string;
    sent: string;
    delivered: string;
    opened: string;
    clicked: string;
    bounced: string;
    cost: string;
  }>(
    `SELECT scenario, COALESCE(channel, '(none)') AS channel, count(*) AS sent,
            count(*) FILTER (WHERE fate IN ('delivered', 'opened', 'clicked')) AS delivered,
            count(*) FILTER (WHERE fate IN ('opened', 'clicked')) AS opened,
            count(*) FILTER (WHERE fate = 'clicked') AS clicked,
            count(*) FILTER (WHERE fate = 'bounced') AS bounced,
            COALESCE(sum(cost), 0) AS cost
       FROM messages
      WHERE workspace_id = $1 AND sent_at >= $2 AND sent_at < $3 AND fate = ANY($4::text[])
      GROUP BY 1, 2 ORDER BY 1, 2`,
    [workspaceId, from, to, [...SENT_FATES]],
  );
  return rows.map((r) => ({
    scenario: r.scenario,
    channel: r.channel,
    sent: Number(r.sent),
    delivered: Number(r.delivered),
    opened: Number(r.opened),
    clicked: Number(r.clicked),
    bounced: Number(r.bounced),
    recordedCost: Number(r.cost),
  }));
}

/**
 * Entries into each scenario in the period; `control` of them were held out, in the scenario's control arm or the
 * global control group.
 */
export async function entryTotals(
  client: Queryable,
  workspaceId: number,
  from: Date,
  to: Date,
): Promise<{ scenario: string; entered: number; control: number }[]> {
  const { rows } = await client.query<{ scenario: string; entered: string; control: string }>(
    `SELECT scenario, count(*) AS entered,
            count(*) FILTER (WHERE variant = 'control' OR global_control) AS control
       FROM scenario_entries
      WHERE workspace_id = $1 AND entered_at >= $2 AND entered_at < $3
      GROUP BY scenario ORDER BY scenario`,
    [workspaceId, from, to],
  );
  return rows.map((r) => ({ scenario: r.scenario, entered: Number(r.entered), control: Number(r.control) }));
}

export interface GoalQuery {
  goal: string;
  /** the scenarios pursuing the goal */
  scenarios: readonly string[];
  event: string;
  windowMs: number;
  /** the goal's target is revenue per entry: its events' amounts are read */
  revenueTarget: boolean;
}

export interface GoalTotals {
  goal: string;
  /** entries whose goal window had closed by `now` */
  matured: number;
  /** entries still inside their window at `now`: not counted yet */
  pending: number;
  /** matured entries with the goal event inside the window */
  converted: number;
  /** amounts (revenue, else total) of the goal events of matured entries, within the window */
  revenue: number;
}

/** The leading parameters of goalTotals' query: a goal filter (compileEventFilter) is numbered after them. */
export function goalQueryLeading(
  workspaceId: number,
  from: Date,
  to: Date,
  now: Date,
  goals: readonly GoalQuery[],
): unknown[] {
  const rows = goals.flatMap((g) => g.scenarios.map((scenario) => ({ ...g, scenario })));
  const longest = Math.max(0, ...goals.map((g) => g.windowMs));
  return [
    workspaceId,
    from,
    to,
    now,
    rows.map((r) => r.goal),
    rows.map((r) => r.scenario),
    rows.map((r) => r.event),
    rows.map((r) => r.windowMs),
    `${longest} milliseconds`,
  ];
}

/**
 * Goal conversion of the scenarios' entries in the period (those held out in a control group left out): the goal event
 * within the window after entry, as the scenario runner checks it. One pass over the goal events of the period
 * and the longest window after it (bounds known in advance, so only those months are read), joined to the
 * entries by customer; `filter` (a goal's `where`, compiled with goalQueryLeading's parameters first) applies to
 * every goal of the call.
 */
export async function goalTotals(
  client: Queryable,
  workspaceId: number,
  period: { from: Date; to: Date; now: Date },
  goals: readonly GoalQuery[],
  filter?: { sql: string; values: unknown[] },
): Promise<GoalTotals[]> {
  if (goals.length === 0) return [];
  // Without a `where` on the event's properties, goals that are orders are read from order_facts ($11), the
  // others from the events: those whose amount a revenue target needs from their properties ($12), the rest from
  // the index alone ($10). With a `where`, every goal event is read from the events ($7) with its properties.
  const names = [...new Set(goals.map((g) => g.event))];
  const priced = new Set(goals.filter((g) => g.revenueTarget).map((g) => g.event));
  const values =
    filter?.values ??
    goalQueryLeading(workspaceId, period.from, period.to, period.now, goals).concat([
      names.filter((n) => !isOrderName(n) && !priced.has(n)),
      names.filter(isOrderName),
      names.filter((n) => !isOrderName(n) && priced.has(n)),
    ]);
  const events = (list: string, amount: string, where = "") => `
       SELECT e.customer_id, e.name, e.occurred_at, ${amount} AS amount
         FROM events e
        WHERE e.workspace_id = $1::integer AND e.type = 'track' AND e.name = ANY(${list})
          AND ${kindAmong("e", list)}
          AND e.occurred_at >= $2::timestamptz AND e.occurred_at <= $3::timestamptz + $9::interval ${where}`;
  const ev = filter
    ? events("$7::text[]", AMOUNT, `AND ${filter.sql}`)
    : `${events("$10::text[]", "0")}
       UNION ALL
       SELECT r.customer_id, r.name, r.occurred_at, r.amount
         FROM order_facts r
        WHERE r.workspace_id = $1::integer AND r.name = ANY($11::text[])
          AND r.occurred_at >= $2::timestamptz AND r.occurred_at <= $3::timestamptz + $9::interval
       UNION ALL ${events("$12::text[]", AMOUNT)}`;
  // The entries are counted by themselves, and those that reached the goal (hit: a few of them) apart: no row
  // per entry is grouped against the events.
  const { rows } = await client.query<{
    goal: string;
    matured: string;
    pending: string;
    converted: string;
    revenue: string;
  }>(
    `WITH g AS (
       SELECT * FROM unnest($5::text[], $6::text[], $7::text[], $8::float8[]) AS g(goal, scenario, event, window_ms)),
     s AS (
       SELECT se.entry_id, se.customer_id, se.entered_at, g.goal, g.event,
              se.entered_at + g.window_ms * interval '1 millisecond' AS until
         FROM scenario_entries se JOIN g ON g.scenario = se.scenario
        WHERE se.workspace_id = $1::integer AND se.scenario = ANY($6::text[])
          AND se.entered_at >= $2::timestamptz AND se.entered_at < $3::timestamptz
          AND se.variant IS DISTINCT FROM 'control' AND se.global_control IS NOT TRUE),
     ev AS (${ev}),
     hit AS MATERIALIZED (
       SELECT s.goal, s.entry_id, sum(ev.amount) AS amount
         FROM s JOIN ev ON ev.customer_id = s.customer_id AND ev.name = s.event
                       AND ev.occurred_at >= s.entered_at AND ev.occurred_at <= s.until
        WHERE s.until <= $4::timestamptz
        GROUP BY 1, 2)
     SELECT goal, count(*) FILTER (WHERE until <= $4::timestamptz) AS matured,
            count(*) FILTER (WHERE until > $4::timestamptz) AS pending, 0 AS converted, 0 AS revenue
       FROM s GROUP BY goal
     UNION ALL
     SELECT goal, 0, 0, count(*), COALESCE(sum(amount), 0) FROM hit GROUP BY goal`,
    values,
  );
  const total = (goal: string, k: "matured" | "pending" | "converted" | "revenue") =>
    rows.filter((x) => x.goal === goal).reduce((a, x) => a + Number(x[k]), 0);
  return goals.map((g) => ({
    goal: g.goal,
    matured: total(g.goal, "matured"),
    pending: total(g.goal, "pending"),
    converted: total(g.goal, "converted"),
    revenue: total(g.goal, "revenue"),
  }));
}
