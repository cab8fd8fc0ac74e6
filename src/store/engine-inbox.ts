// The engine's inbox: events the scenarios react to (triggers, waits for an event, goals, segment and stage
// changes), copied in the same transaction that stores them, so none is lost and none is seen before it exists.
import type { Queryable } from "./customers.ts";

export interface InboxEvent {
  customerId: string;
  name: string;
  messageId: string;
  occurredAt: Date;
  properties: Record<string, unknown>;
}

export interface InboxRow extends InboxEvent {
  inboxId: string;
  workspaceId: number;
}

/** The names the strategies applied so far react to (empty when none is applied). */
export async function inboxEventNames(client: Queryable, workspaceId: number): Promise<Set<string>> {
  const { rows } = await client.query<{ names: string[] }>(
    "SELECT inbox_events AS names FROM strategy_versions WHERE workspace_id = $1 ORDER BY version DESC LIMIT 1",
    [workspaceId],
  );
  return new Set(rows[0]?.names ?? []);
}

/** Hands one event recorded by Tact itself (feedback, an answer, a reply) to the engine's triggers and waits. */
export async function toInbox(
  client: Queryable,
  workspaceId: number,
  e: { customerId: string; name: string; messageId: string; at: Date; propertiesJson: string },
): Promise<void> {
  await client.query(
    `INSERT INTO engine_inbox (workspace_id, customer_id, name, message_id, occurred_at, properties, received_at)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $5)`,
    [workspaceId, e.customerId, e.name, e.messageId, e.at, e.propertiesJson],
  );
}

/** Copies the events whose names the engine reacts to; returns how many were copied. */
export async function copyToInbox(
  client: Queryable,
  workspaceId: number,
  events: readonly InboxEvent[],
  receivedAt: Date,
  names?: ReadonlySet<string>,
): Promise<number> {
  if (events.length === 0) return 0;
  const wanted = names ?? (await inboxEventNames(client, workspaceId));
  const rows = events.filter((e) => wanted.has(e.name));
  if (rows.length === 0) return 0;
  await client.query(
    `INSERT INTO engine_inbox (workspace_id, customer_id, name, message_id, occurred_at, properties, received_at)
     SELECT $1, d.c, d.n, d.m, d.o, d.p, $2 FROM json_to_recordset($3::json) AS d(c bigint, n text, m text, o timestamptz, p jsonb)`,
    [
      workspaceId,
      receivedAt,
      JSON.stringify(
        rows.map((e) => ({ c: e.customerId, n: e.name, m: e.messageId, o: e.occurredAt, p: e.properties })),
      ),
    ],
  );
  return rows.length;
}

/** Claims the oldest inbox rows, locked until the caller's transaction ends (and deletes them then). */
export async function claimInbox(client: Queryable, limit: number): Promise<InboxRow[]> {
  const { rows } = await client.query<{
    inbox_id: string;
    workspace_id: number;
    customer_id: string;
    name: string;
    message_id: string;
    occurred_at: Date;
    properties: Record<string, unknown>;
  }>(
    `DELETE FROM engine_inbox WHERE inbox_id IN (
       SELECT inbox_id FROM engine_inbox ORDER BY inbox_id LIMIT $1 FOR UPDATE SKIP LOCKED)
     RETURNING inbox_id, workspace_id, customer_id, name, message_id, occurred_at, properties`,
    [limit],
  );
  return rows
    .map((r) => ({
      inboxId: r.inbox_id,
      workspaceId: r.workspace_id,
      customerId: r.customer_id,
      name: r.name,
      messageId: r.message_id,
      occurredAt: r.occurred_at,
      properties: r.properties,
    }))
    .sort((a, b) => (BigInt(a.inboxId) < BigInt(b.inboxId) ? -1 : 1));
}
