// The customer base as the reports see it: its size at a moment, how much of it is identified and reachable, each
// channel's reach, the stage distribution at two moments and the moves between stages in between (from the
// memberships history). One aggregate query each.
import type { Queryable } from "./customers.ts";

/** How a channel reaches a customer: the contact point it needs, and whether consent must be explicit. */
export interface ChannelReachSpec {
  name: string;
  contact: "email" | "phone" | "telegram" | "push" | "none";
  consent: "opt_in" | "opt_out";
}

export interface BaseTotals {
  /** customers first seen before the end of the period */
  size: number;
  /** of them, first seen inside the period */
  newCustomers: number;
  /** with a user id or a contact point (not only anonymous ids) */
  identified: number;
  /** identified and reachable (contact point, not unsubscribed) on at least one channel */
  digitised: number;
  /** by channel: a contact point and consent as the strategy's consent rule requires */
  reach: Map<string, number>;
}

const CONTACT_COLUMN: Record<string, string | undefined> = {
  email: "email",
  phone: "phone",
  telegram: "telegram_chat_id",
};

const present = (column: string) => `(c.${column} IS NOT NULL AND c.${column} <> '')`;

/**
 * Size, identification and reach of the base at the end of a period. Contact points and consents are the
 * customers' current ones: the store keeps no history of them.
 */
export async function baseTotals(
  client: Queryable,
  workspaceId: number,
  from: Date,
  to: Date,
  channels: readonly ChannelReachSpec[],
): Promise<BaseTotals> {
  const values: unknown[] = [workspaceId, from, to];
  // Each channel's consent state (s0, s1, … in the subquery below) is one lookup in the JSON with no type check:
  // only a JSON string reads as 'opted_in' or 'unsubscribed' through ->>, so a state of another JSON type counts as
  // unknown, as an absent one does (a quarter of the query's time at 1,000,000 customers went to the checks).
  const states = channels.map(
    (ch, i) => `COALESCE(consents -> $${values.push(ch.name)}::text ->> 'state', 'unknown') AS s${i}`,
  );
  const contactOf = (kind: ChannelReachSpec["contact"]): string | null => {
    const column = CONTACT_COLUMN[kind];
    return column ? present(column) : kind === "none" ? "TRUE" : null;
  };
  const reachable: string[] = [];
  const reach = channels.map((ch, i) => {
    const contact = contactOf(ch.contact);
    if (contact === null) return `0 AS r${i}`;
    reachable.push(`(${contact} AND c.s${i} <> 'unsubscribed')`);
    const consented = ch.consent === "opt_in" ? `c.s${i} = 'opted_in'` : `c.s${i} <> 'unsubscribed'`;
    return `count(*) FILTER (WHERE ${contact} AND ${consented}) AS r${i}`;
  });
  // With no channels declared (no strategy), any contact point counts as a way to reach the customer.
  const anyReach =
    channels.length > 0
      ? reachable.length > 0
        ? reachable.join(" OR ")
        : "FALSE"
      : Object.values(CONTACT_COLUMN)
          .map((c) => present(c ?? ""))
          .join(" OR ");
  const identified = `(${present("user_id")} OR ${Object.values(CONTACT_COLUMN)
    .map((c) => present(c ?? ""))
    .join(" OR ")})`;
  const { rows } = await client.query<Record<string, string>>(
    `SELECT count(*) AS size,
            count(*) FILTER (WHERE c.since >= $2) AS new_customers,
            count(*) FILTER (WHERE ${identified}) AS identified,
            count(*) FILTER (WHERE ${identified} AND (${anyReach})) AS digitised
            ${reach.map((r) => `, ${r}`).join("")}
       FROM (SELECT *, LEAST(created_at, COALESCE(first_seen_at, created_at)) AS since
                    ${states.map((x) => `, ${x}`).join("")}
               FROM customers WHERE workspace_id = $1) c
      WHERE c.since < $3`,
    values,
  );
  const r = rows[0] ?? {};
  const n = (k: string) => Number(r[k] ?? 0);
  return {
    size: n("size"),
    newCustomers: n("new_customers"),
    identified: n("identified"),
    digitised: n("digitised"),
    reach: new Map(channels.map((ch, i) => [ch.name, n(`r${i}`)])),
  };
}

export interface StageCount {
  stage: string;
  atStart: number;
  atEnd: number;
}

/** Customers in each stage at the start and at the end of the period (open stays at those moments). */
export async function stageDistribution(
  client: Queryable,
  workspaceId: number,
  from: Date,
  to: Date,
): Promise<StageCount[]> {
  const { rows } = await client.query<{ name: string; at_start: string; at_end: string }>(
    `SELECT name,
            count(*) FILTER (WHERE entered_at < $2 AND (left_at IS NULL OR left_at >= $2)) AS at_start,
            count(*) FILTER (WHERE left_at IS NULL OR left_at >= $3) AS at_end
       FROM memberships
      WHERE workspace_id = $1 AND kind = 'stage' AND entered_at < $3 AND (left_at IS NULL OR left_at >= $2)
      GROUP BY name`,
    [workspaceId, from, to],
  );
  return rows.map((r) => ({ stage: r.name, atStart: Number(r.at_start), atEnd: Number(r.at_end) }));
}

export interface StageFlow {
  /** null: the customer had no stage before (new, or the first strategy applied) */
  from: string | null;
  /** null: the customer left the base (merged into another, or erased) */
  to: string | null;
  moves: number;
}

/**
 * Moves between stages in the period. A move closes one stay and opens the next at the same moment (the
 * refresher and the recompute both write them so), which pairs them: each stay closed in the period looks up the
 * stay its customer opened at that moment (an index probe per exit), and the stays opened in the period are only
 * counted by stage, the paired ones taken off as moves from another stage. A first strategy applied in the period
 * opens a stay for every customer; they are not joined one by one.
 */
export async function stageFlows(
  client: Queryable,
  workspaceId: number,
  from: Date,
  to: Date,
): Promise<StageFlow[]> {
  const { rows } = await client.query<{ from_stage: string | null; to_stage: string | null; n: string }>(
    `WITH pairs AS MATERIALIZED (
       SELECT x.name AS from_stage, e.name AS to_stage, e.customer_id, e.entered_at
         FROM memberships x
         LEFT JOIN memberships e ON e.workspace_id = $1 AND e.customer_id = x.customer_id AND e.kind = 'stage'
                                AND e.entered_at = x.left_at
        WHERE x.workspace_id = $1 AND x.kind = 'stage' AND x.left_at >= $2 AND x.left_at < $3),
     opened AS (
       SELECT name, count(*) AS n FROM memberships
        WHERE workspace_id = $1 AND kind = 'stage' AND entered_at >= $2 AND entered_at < $3
        GROUP BY name),
     paired AS (
       SELECT to_stage, count(DISTINCT (customer_id, entered_at)) AS n FROM pairs
        WHERE to_stage IS NOT NULL GROUP BY to_stage),
     flows AS (
       SELECT from_stage, to_stage, count(*) AS n FROM pairs GROUP BY 1, 2
       UNION ALL
       SELECT NULL, o.name, o.n - COALESCE(p.n, 0) FROM opened o LEFT JOIN paired p ON p.to_stage = o.name)
     SELECT from_stage, to_stage, n FROM flows WHERE n > 0 ORDER BY 3 DESC, 1, 2`,
    [workspaceId, from, to],
  );
  return rows.map((r) => ({ from: r.from_stage, to: r.to_stage, moves: Number(r.n) }));
}
