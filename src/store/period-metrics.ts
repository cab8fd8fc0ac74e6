// Set-wise totals of one period for the reports: orders and refunds (with a day-by-day series), unsubscribes by
// channel, messages by scenario and channel, and scenario entries. Each is one aggregate query over the period's
// rows, never a query per customer. Periods are half-open: from ≤ t < to.
import type { Queryable } from "./customers.ts";
import { inCurrency, trackKind } from "./event-sql.ts";

// Orders and refunds from order_facts; unsubscribes under the names the profile counts (core/event-kind.ts), read
// through the track-kind index (store/event-sql.ts).
const KIND = trackKind("e");

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
  /** orders and refunds in another currency than the strategy's, by currency: counted in none of the above */
  otherCurrencies: OtherCurrency[];
}

/** Orders and refunds in a currency other than the strategy's, left out of every money figure. */
export interface OtherCurrency {
  currency: string;
  orders: number;
  refunds: number;
}

/**
 * Orders, refunds and unsubscribes of the period in one pass over its events; orders in another currency than
 * `currency` (the strategy's; null: none known) are counted apart.
 */
export async function orderTotals(
  client: Queryable,
  workspaceId: number,
  from: Date,
  to: Date,
  timeZone: string,
  currency: string | null,
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
       SELECT o.customer_id,
              CASE WHEN NOT ${inCurrency("o", "$5")} THEN CASE WHEN o.refund THEN 'other_refund' ELSE 'other_order' END
                   WHEN o.refund THEN 'order_refunded' ELSE 'order_completed' END AS k,
              CASE WHEN NOT ${inCurrency("o", "$5")} THEN o.currency END AS ch, o.occurred_at, o.amount
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
    [workspaceId, from, to, timeZone, currency],
  );
  const out: OrderTotals = {
    orders: 0,
    buyers: 0,
    grossRevenue: 0,
    refunds: 0,
    refundedAmount: 0,
    byDay: [],
    unsubscribes: new Map(),
    otherCurrencies: [],
  };
  const other = new Map<string, OtherCurrency>();
  const days = new Map<string, { day: string; orders: number; revenue: number }>();
  for (const r of rows) {
    const n = Number(r.n);
    const amount = Number(r.amount ?? 0);
    if (r.k === "other_order" || r.k === "other_refund") {
      if (r.day !== null || r.ch === null) continue;
      const o = other.get(r.ch) ?? { currency: r.ch, orders: 0, refunds: 0 };
      if (r.k === "other_order") o.orders += n;
      else o.refunds += n;
      other.set(r.ch, o);
    } else if (r.day !== null) {
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
  out.otherCurrencies = [...other.values()].sort((a, b) => (a.currency < b.currency ? -1 : 1));
  return out;
}

/** Orders and refunds of the period in another currency than `currency`, by currency. */
export async function otherCurrencyOrders(
  client: Queryable,
  workspaceId: number,
  from: Date | null,
  to: Date,
  currency: string,
): Promise<OtherCurrency[]> {
  const { rows } = await client.query<{ currency: string; orders: string; refunds: string }>(
    `SELECT currency, count(*) FILTER (WHERE NOT refund) AS orders, count(*) FILTER (WHERE refund) AS refunds
       FROM order_facts o
      WHERE workspace_id = $1 AND ($2::timestamptz IS NULL OR occurred_at >= $2) AND occurred_at < $3
        AND NOT ${inCurrency("o", "$4")}
      GROUP BY currency ORDER BY currency`,
    [workspaceId, from, to, currency],
  );
  return rows.map((r) => ({ currency: r.currency, orders: Number(r.orders), refunds: Number(r.refunds) }));
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
