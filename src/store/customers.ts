// Customers and their identifiers: lookup, creation, profile updates and merges. Functions take the client
// of the caller's transaction.
import { type Queryable, StaleReadError } from "./db.ts";
import { closeMembershipsOfMerged } from "./memberships.ts";

export type { Queryable };

export interface CustomerPatch {
  customerId: string;
  userId: string | null;
  email: string | null;
  phone: string | null;
  telegramChatId: string | null;
  traits: Record<string, unknown> | null;
  traitsAt: Date | null;
  timezone: string | null;
  locale: string | null;
  consents: Record<string, unknown>;
  preferredChannel: string | null;
  orders: number;
  revenue: number;
  firstOrderAt: Date | null;
  lastOrderAt: Date | null;
  firstSeenAt: Date;
  lastSeenAt: Date;
}

export async function lookupIdentities(
  client: Queryable,
  workspaceId: number,
  keys: { kind: string; value: string }[],
): Promise<{ kind: string; value: string; customer_id: string; user_id: string | null }[]> {
  if (keys.length === 0) return [];
  const { rows } = await client.query(
    `SELECT i.kind, i.value, i.customer_id, c.user_id
       FROM unnest($2::text[], $3::text[]) AS k(kind, value)
       JOIN identities i ON i.workspace_id = $1 AND i.kind = k.kind AND i.value = k.value
       JOIN customers c ON c.workspace_id = i.workspace_id AND c.customer_id = i.customer_id`,
    [workspaceId, keys.map((k) => k.kind), keys.map((k) => k.value)],
  );
  return rows;
}

/** Hands out customer ids from the sequence, fetched in blocks so that most requests need no round trip. */
export class CustomerIdPool {
  #ids: string[] = [];

  async take(client: Queryable, n: number): Promise<string[]> {
    if (this.#ids.length < n) {
      const { rows } = await client.query<{ id: string }>(
        "SELECT nextval('customer_id_seq')::text AS id FROM generate_series(1, $1)",
        [Math.max(n - this.#ids.length, 1000)],
      );
      for (const r of rows) this.#ids.push(r.id);
    }
    return this.#ids.splice(0, n);
  }
}

/** Inserts identifiers; one claimed concurrently means this transaction read too early and must retry. */
export async function insertIdentities(
  client: Queryable,
  workspaceId: number,
  rows: { kind: string; value: string; customerId: string }[],
  at: Date,
): Promise<void> {
  if (rows.length === 0) return;
  rows.sort((a, b) => (a.kind + a.value < b.kind + b.value ? -1 : 1));
  const res = await client.query(
    `INSERT INTO identities (workspace_id, kind, value, customer_id, created_at)
     SELECT $1, * , $5 FROM unnest($2::text[], $3::text[], $4::bigint[])
     ON CONFLICT DO NOTHING`,
    [workspaceId, rows.map((r) => r.kind), rows.map((r) => r.value), rows.map((r) => r.customerId), at],
  );
  if (res.rowCount !== rows.length) throw new StaleReadError("an identifier was claimed concurrently");
}

/**
 * Locks customers against a concurrent merge or erasure until the transaction ends (those take FOR UPDATE first);
 * throws StaleReadError if one is already gone.
 */
export async function holdCustomers(client: Queryable, workspaceId: number, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  const res = await client.query(
    `SELECT customer_id FROM customers WHERE workspace_id = $1 AND customer_id = ANY($2::bigint[])
      ORDER BY customer_id FOR KEY SHARE`,
    [workspaceId, ids],
  );
  if (res.rowCount !== ids.length) throw new StaleReadError("a customer was merged or erased concurrently");
}

const COLUMNS = [
  ["customer_id", "bigint"],
  ["user_id", "text"],
  ["email", "text"],
  ["phone", "text"],
  ["telegram_chat_id", "text"],
  ["traits", "jsonb"],
  ["traits_updated_at", "timestamptz"],
  ["timezone", "text"],
  ["locale", "text"],
  ["consents", "jsonb"],
  ["preferred_channel", "text"],
  ["orders", "integer"],
  ["revenue", "numeric"],
  ["first_order_at", "timestamptz"],
  ["last_order_at", "timestamptz"],
  ["first_seen_at", "timestamptz"],
  ["last_seen_at", "timestamptz"],
] as const;

/** The patches as one JSON document for json_to_recordset: one serialisation, parsed in C by the server. */
function patchJson(patches: CustomerPatch[]): string {
  return JSON.stringify(
    patches.map((p) => ({
      customer_id: p.customerId,
      user_id: p.userId,
      email: p.email,
      phone: p.phone,
      telegram_chat_id: p.telegramChatId,
      traits: p.traits,
      traits_updated_at: p.traitsAt,
      timezone: p.timezone,
      locale: p.locale,
      consents: p.consents,
      preferred_channel: p.preferredChannel,
      orders: p.orders,
      revenue: p.revenue,
      first_order_at: p.firstOrderAt,
      last_order_at: p.lastOrderAt,
      first_seen_at: p.firstSeenAt,
      last_seen_at: p.lastSeenAt,
    })),
  );
}

const RECORDSET = `json_to_recordset($2::json) AS d(${COLUMNS.map(([c, t]) => `${c} ${t}`).join(", ")})`;

/** Gives existing anonymous customers the userId they were just identified with. */
export async function setUserIds(
  client: Queryable,
  workspaceId: number,
  pairs: { customerId: string; userId: string }[],
): Promise<void> {
  if (pairs.length === 0) return;
  await client.query(
    `UPDATE customers c SET user_id = d.user_id
       FROM unnest($2::bigint[], $3::text[]) AS d(customer_id, user_id)
      WHERE c.workspace_id = $1 AND c.customer_id = d.customer_id AND c.user_id IS NULL`,
    [workspaceId, pairs.map((p) => p.customerId), pairs.map((p) => p.userId)],
  );
}

/** Creates customers with nothing but their ids; their profile follows in the batch's write. */
export async function insertBareCustomers(
  client: Queryable,
  workspaceId: number,
  customers: { customerId: string; userId: string | null }[],
): Promise<void> {
  if (customers.length === 0) return;
  await client.query(
    `INSERT INTO customers (workspace_id, customer_id, user_id)
     SELECT $1, * FROM unnest($2::bigint[], $3::text[])`,
    [workspaceId, customers.map((c) => c.customerId), customers.map((c) => c.userId)],
  );
}

export async function insertCustomers(
  client: Queryable,
  workspaceId: number,
  patches: CustomerPatch[],
): Promise<void> {
  if (patches.length === 0) return;
  await client.query(
    `INSERT INTO customers (workspace_id, ${COLUMNS.map(([c]) => c).join(", ")})
     SELECT $1, d.customer_id, d.user_id, d.email, d.phone, d.telegram_chat_id, COALESCE(d.traits, '{}'),
            d.traits_updated_at, d.timezone, d.locale, d.consents, d.preferred_channel, d.orders, d.revenue,
            d.first_order_at, d.last_order_at, d.first_seen_at, d.last_seen_at
       FROM ${RECORDSET}`,
    [workspaceId, patchJson(patches)],
  );
}

/**
 * How a customer row `c` absorbs newer data `d`: scalar contact points and traits follow the newest traits,
 * counts add up, first/last times widen. `consentMerge` decides consents (newest on ingest, most restrictive on
 * merge).
 */
function absorb(consentMerge: string): string {
  const newer =
    "(d.traits_updated_at IS NOT NULL AND (c.traits_updated_at IS NULL OR d.traits_updated_at >= c.traits_updated_at))";
  const seenNewer = "(c.last_seen_at IS NULL OR d.last_seen_at >= c.last_seen_at)";
  const pick = (col: string, cond: string) =>
    `${col} = CASE WHEN d.${col} IS NOT NULL AND ${cond} THEN d.${col} ELSE COALESCE(c.${col}, d.${col}) END`;
  return [
    "user_id = COALESCE(c.user_id, d.user_id)",
    pick("email", newer),
    pick("phone", newer),
    pick("telegram_chat_id", newer),
    pick("preferred_channel", newer),
    pick("timezone", seenNewer),
    pick("locale", seenNewer),
    `traits = CASE WHEN d.traits IS NULL THEN c.traits WHEN ${newer} THEN c.traits || d.traits ELSE d.traits || c.traits END`,
    "traits_updated_at = GREATEST(c.traits_updated_at, d.traits_updated_at)",
    `consents = CASE WHEN d.consents = '{}'::jsonb THEN c.consents ELSE ${consentMerge}(c.consents, d.consents) END`,
    "orders = c.orders + d.orders",
    "revenue = c.revenue + d.revenue",
    "first_order_at = LEAST(c.first_order_at, d.first_order_at)",
    "last_order_at = GREATEST(c.last_order_at, d.last_order_at)",
    "first_seen_at = LEAST(c.first_seen_at, d.first_seen_at)",
    "last_seen_at = GREATEST(c.last_seen_at, d.last_seen_at)",
    "updated_at = now()",
  ].join(",\n       ");
}

/** Applies profile changes to existing customers; a customer gone meanwhile (merged, erased) forces a retry. */
export async function updateCustomers(
  client: Queryable,
  workspaceId: number,
  patches: CustomerPatch[],
): Promise<void> {
  if (patches.length === 0) return;
  patches.sort((a, b) => (BigInt(a.customerId) < BigInt(b.customerId) ? -1 : 1));
  const res = await client.query(
    `UPDATE customers c SET ${absorb("tact_consents_newest")}
       FROM ${RECORDSET}
      WHERE c.workspace_id = $1 AND c.customer_id = d.customer_id`,
    [workspaceId, patchJson(patches)],
  );
  if (res.rowCount !== patches.length) throw new StaleReadError("a customer changed concurrently");
}

/** Moves everything of one customer to another, once: identifiers, events, profile; records the merge. */
export async function mergeCustomers(
  client: Queryable,
  workspaceId: number,
  from: string,
  into: string,
  reason: string,
  at: Date,
): Promise<void> {
  const locked = await client.query(
    `SELECT customer_id FROM customers WHERE workspace_id = $1 AND customer_id IN ($2, $3)
      ORDER BY customer_id FOR UPDATE`,
    [workspaceId, from, into],
  );
  if (locked.rowCount !== 2) throw new StaleReadError("a customer to merge changed concurrently");
  const params = [workspaceId, from, into];
  await client.query(
    "UPDATE identities SET customer_id = $3 WHERE workspace_id = $1 AND customer_id = $2",
    params,
  );
  await client.query(
    "UPDATE events SET customer_id = $3 WHERE workspace_id = $1 AND customer_id = $2",
    params,
  );
  await client.query(
    `UPDATE customers c SET ${absorb("tact_consents_restrictive")}
       FROM customers d
      WHERE c.workspace_id = $1 AND c.customer_id = $3 AND d.workspace_id = $1 AND d.customer_id = $2`,
    params,
  );
  await client.query("DELETE FROM customers WHERE workspace_id = $1 AND customer_id = $2", [
    workspaceId,
    from,
  ]);
  await closeMembershipsOfMerged(client, workspaceId, from, at);
  // Scenario positions, messages and webhook calls follow the person to the surviving profile.
  await client.query(
    "UPDATE scenario_entries SET customer_id = $3 WHERE workspace_id = $1 AND customer_id = $2",
    params,
  );
  await client.query(
    "UPDATE messages SET customer_id = $3 WHERE workspace_id = $1 AND customer_id = $2",
    params,
  );
  await client.query(
    "UPDATE webhook_calls SET customer_id = $3 WHERE workspace_id = $1 AND customer_id = $2",
    params,
  );
  await client.query(
    "UPDATE customer_merges SET into_customer_id = $3 WHERE workspace_id = $1 AND into_customer_id = $2",
    params,
  );
  await client.query(
    `INSERT INTO customer_merges (workspace_id, from_customer_id, into_customer_id, merged_at, reason)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workspace_id, from_customer_id) DO NOTHING`,
    [...params, at, reason],
  );
}

/**
 * Records addresses a channel found not to exist (an SMTP server refused the mailbox), by contact kind, as a hard
 * bounce: the rules leave the customer's channels of that kind alone while their address is still that one.
 */
export async function markUndeliverable(
  client: Queryable,
  found: readonly { ws: number; customer: string; message: string; kind: string; address: string }[],
  at: Date,
): Promise<void> {
  await client.query(
    `UPDATE customers c
        SET undeliverable = COALESCE(c.undeliverable, '{}'::jsonb)
              || jsonb_build_object(d.kind, jsonb_build_object('address', d.address, 'reason', 'hard_bounced',
                                                               'at', $2::timestamptz, 'message_id', d.message))
       FROM json_to_recordset($1::json) AS d(ws integer, customer bigint, message text, kind text, address text)
      WHERE c.workspace_id = d.ws AND c.customer_id = d.customer`,
    [JSON.stringify(found), at],
  );
}
