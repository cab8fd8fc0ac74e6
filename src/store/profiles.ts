// Reading customers as the admin API shows them (profile with computed attributes), exporting everything held on
// one person, and erasing it with suppression.
import type { Db } from "./db.ts";
import { withTransaction } from "./db.ts";
import type { StoredEvent } from "./events.ts";
import type { UndeliverableAddress } from "./schema.ts";

export interface CustomerProfile {
  id: string;
  userId: string | null;
  anonymousIds: string[];
  email: string | null;
  phone: string | null;
  telegramChatId: string | null;
  traits: Record<string, unknown>;
  timezone: string | null;
  locale: string | null;
  consents: Record<string, { state: string; at: string }>;
  preferredChannel: string | null;
  /** addresses a channel found not to work, by contact kind: not tried again while the customer keeps them */
  undeliverable: Record<string, UndeliverableAddress>;
  computed: {
    orders: number;
    revenue: number;
    averageOrderValue: number | null;
    firstOrderAt: string | null;
    lastOrderAt: string | null;
    firstSeenAt: string | null;
    lastSeenAt: string | null;
  };
  mergedFrom: string[];
  createdAt: string;
  updatedAt: string;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** The current id of a customer, following merges (a merged-away id keeps answering). */
export async function currentCustomerId(
  db: Db,
  workspaceId: number,
  id: string,
): Promise<string | undefined> {
  if (!/^\d{1,18}$/.test(id)) return undefined;
  const row = await db.kysely
    .selectFrom("customers")
    .select("customer_id")
    .where("workspace_id", "=", workspaceId)
    .where("customer_id", "=", id)
    .executeTakeFirst();
  if (row) return row.customer_id;
  const merged = await db.kysely
    .selectFrom("customer_merges")
    .select("into_customer_id")
    .where("workspace_id", "=", workspaceId)
    .where("from_customer_id", "=", id)
    .executeTakeFirst();
  return merged?.into_customer_id;
}

export async function getProfile(
  db: Db,
  workspaceId: number,
  id: string,
): Promise<CustomerProfile | undefined> {
  const cid = await currentCustomerId(db, workspaceId, id);
  if (!cid) return undefined;
  const c = await db.kysely
    .selectFrom("customers")
    .selectAll()
    .where("workspace_id", "=", workspaceId)
    .where("customer_id", "=", cid)
    .executeTakeFirst();
  if (!c) return undefined;
  const [anon, merges] = await Promise.all([
    db.kysely
      .selectFrom("identities")
      .select("value")
      .where("workspace_id", "=", workspaceId)
      .where("customer_id", "=", cid)
      .where("kind", "=", "anon")
      .orderBy("created_at")
      .execute(),
    db.kysely
      .selectFrom("customer_merges")
      .select("from_customer_id")
      .where("workspace_id", "=", workspaceId)
      .where("into_customer_id", "=", cid)
      .execute(),
  ]);
  const revenue = Number(c.revenue);
  return {
    id: c.customer_id,
    userId: c.user_id,
    anonymousIds: anon.map((a) => a.value),
    email: c.email,
    phone: c.phone,
    telegramChatId: c.telegram_chat_id,
    traits: c.traits,
    timezone: c.timezone,
    locale: c.locale,
    consents: c.consents,
    preferredChannel: c.preferred_channel,
    undeliverable: c.undeliverable ?? {},
    computed: {
      orders: c.orders,
      revenue,
      averageOrderValue: c.orders > 0 ? Math.round((revenue / c.orders) * 10000) / 10000 : null,
      firstOrderAt: iso(c.first_order_at),
      lastOrderAt: iso(c.last_order_at),
      firstSeenAt: iso(c.first_seen_at),
      lastSeenAt: iso(c.last_seen_at),
    },
    mergedFrom: merges.map((m) => m.from_customer_id),
    createdAt: c.created_at.toISOString(),
    updatedAt: c.updated_at.toISOString(),
  };
}

export async function findCustomerIds(
  db: Db,
  workspaceId: number,
  by: { userId?: string | undefined; email?: string | undefined; anonymousId?: string | undefined },
): Promise<string[]> {
  if (by.userId !== undefined || by.anonymousId !== undefined) {
    const kind = by.userId !== undefined ? "user" : "anon";
    const value = (by.userId ?? by.anonymousId) as string;
    const row = await db.kysely
      .selectFrom("identities")
      .select("customer_id")
      .where("workspace_id", "=", workspaceId)
      .where("kind", "=", kind)
      .where("value", "=", value)
      .executeTakeFirst();
    return row ? [row.customer_id] : [];
  }
  if (by.email !== undefined) {
    const rows = await db.kysely
      .selectFrom("customers")
      .select("customer_id")
      .where("workspace_id", "=", workspaceId)
      .where("email", "=", by.email.trim().toLowerCase())
      .orderBy("customer_id")
      .limit(100)
      .execute();
    return rows.map((r) => r.customer_id);
  }
  return [];
}

export interface CustomerExport {
  exportedAt: string;
  profile: CustomerProfile;
  identities: { kind: string; value: string; since: string }[];
  merges: { from: string; at: string; reason: string }[];
  events: StoredEvent[];
}

export async function exportCustomer(
  db: Db,
  workspaceId: number,
  id: string,
  now: Date,
): Promise<CustomerExport | undefined> {
  const profile = await getProfile(db, workspaceId, id);
  if (!profile) return undefined;
  const cid = profile.id;
  const [identities, merges, events] = await Promise.all([
    db.kysely
      .selectFrom("identities")
      .select(["kind", "value", "created_at"])
      .where("workspace_id", "=", workspaceId)
      .where("customer_id", "=", cid)
      .orderBy("created_at")
      .execute(),
    db.kysely
      .selectFrom("customer_merges")
      .select(["from_customer_id", "merged_at", "reason"])
      .where("workspace_id", "=", workspaceId)
      .where("into_customer_id", "=", cid)
      .execute(),
    db.kysely
      .selectFrom("events")
      .select(["message_id", "type", "name", "occurred_at", "received_at", "properties", "context"])
      .where("workspace_id", "=", workspaceId)
      .where("customer_id", "=", cid)
      .orderBy("occurred_at")
      .execute(),
  ]);
  await audit(db, workspaceId, "admin", "customer.export", cid, {});
  return {
    exportedAt: now.toISOString(),
    profile,
    identities: identities.map((i) => ({ kind: i.kind, value: i.value, since: i.created_at.toISOString() })),
    merges: merges.map((m) => ({
      from: m.from_customer_id,
      at: m.merged_at.toISOString(),
      reason: m.reason,
    })),
    events: events.map((r) => ({
      messageId: r.message_id,
      type: r.type,
      name: r.name,
      occurredAt: r.occurred_at,
      receivedAt: r.received_at,
      properties: r.properties,
      context: r.context,
    })),
  };
}

/**
 * Erases a customer: profile, identifiers, events and merge records go; salted hashes of the identifiers stay on
 * the suppression list so that re-sent data does not bring the person back. Returns false if there is no such
 * customer.
 */
export async function eraseCustomer(
  db: Db,
  workspaceId: number,
  id: string,
  hashIdentifiers: (ids: {
    userId: string | null;
    anonymousIds: string[];
    email: string | null;
    phone: string | null;
  }) => string[],
  actor: string,
): Promise<{ erased: boolean; events: number }> {
  const cid = await currentCustomerId(db, workspaceId, id);
  if (!cid) return { erased: false, events: 0 };
  return withTransaction(db, async (client) => {
    const c = await client.query<{ user_id: string | null; email: string | null; phone: string | null }>(
      "SELECT user_id, email, phone FROM customers WHERE workspace_id = $1 AND customer_id = $2 FOR UPDATE",
      [workspaceId, cid],
    );
    const row = c.rows[0];
    if (!row) return { erased: false, events: 0 };
    const ids = await client.query<{ kind: string; value: string }>(
      "DELETE FROM identities WHERE workspace_id = $1 AND customer_id = $2 RETURNING kind, value",
      [workspaceId, cid],
    );
    const anonymousIds = ids.rows.filter((r) => r.kind === "anon").map((r) => r.value);
    const hashes = hashIdentifiers({ userId: row.user_id, anonymousIds, email: row.email, phone: row.phone });
    await client.query(
      `INSERT INTO suppressions (workspace_id, identifier_hash) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`,
      [workspaceId, hashes],
    );
    const ev = await client.query("DELETE FROM events WHERE workspace_id = $1 AND customer_id = $2", [
      workspaceId,
      cid,
    ]);
    // Memberships of this customer and of the profiles merged into it go too.
    await client.query(
      `DELETE FROM memberships WHERE workspace_id = $1 AND (customer_id = $2 OR customer_id IN
         (SELECT from_customer_id FROM customer_merges WHERE workspace_id = $1 AND into_customer_id = $2))`,
      [workspaceId, cid],
    );
    await client.query("DELETE FROM membership_due WHERE workspace_id = $1 AND customer_id = $2", [
      workspaceId,
      cid,
    ]);
    // Journeys, messages and webhook calls end with the person: nothing more is sent, nothing is kept.
    for (const table of ["scenario_entries", "messages", "webhook_calls", "engine_inbox"])
      await client.query(`DELETE FROM ${table} WHERE workspace_id = $1 AND customer_id = $2`, [
        workspaceId,
        cid,
      ]);
    await client.query(
      "DELETE FROM customer_merges WHERE workspace_id = $1 AND (into_customer_id = $2 OR from_customer_id = $2)",
      [workspaceId, cid],
    );
    await client.query("DELETE FROM customers WHERE workspace_id = $1 AND customer_id = $2", [
      workspaceId,
      cid,
    ]);
    await client.query(
      "INSERT INTO audit_log (workspace_id, actor, action, target, details) VALUES ($1, $2, 'customer.erase', $3, $4)",
      [workspaceId, actor, cid, JSON.stringify({ events: ev.rowCount, identifiers: hashes.length })],
    );
    return { erased: true, events: ev.rowCount ?? 0 };
  });
}

export async function audit(
  db: Db,
  workspaceId: number | null,
  actor: string,
  action: string,
  target: string | null,
  details: Record<string, unknown>,
): Promise<void> {
  await db.kysely
    .insertInto("audit_log")
    .values({ workspace_id: workspaceId, actor, action, target, details: JSON.stringify(details) })
    .execute();
}
