// Events: idempotent insertion (a messageId is accepted once) and reading one customer's history.

import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { copyText } from "./bulk-load.ts";
import type { Queryable } from "./customers.ts";
import type { Db } from "./db.ts";
import { toInbox } from "./engine-inbox.ts";

export interface EventRow {
  customerId: string;
  messageId: string;
  type: string;
  name: string | null;
  occurredAt: Date;
  receivedAt: Date;
  propertiesJson: string;
  contextJson: string | null;
}

/**
 * One track event Tact records itself (feedback, an answer, a reply), at the moment it learnt of it, handed to the
 * engine's triggers and waits like any event.
 */
export async function insertTrackEvent(
  client: Queryable,
  workspaceId: number,
  e: { customerId: string; messageId: string; name: string; at: Date; propertiesJson: string },
): Promise<void> {
  await insertEvents(client, workspaceId, [
    {
      customerId: e.customerId,
      messageId: e.messageId,
      type: "track",
      name: e.name,
      occurredAt: e.at,
      receivedAt: e.at,
      propertiesJson: e.propertiesJson,
      contextJson: null,
    },
  ]);
  await toInbox(client, workspaceId, e);
}

/** Claims message ids for this workspace; returns those not seen before. */
export async function claimMessageIds(
  client: Queryable,
  workspaceId: number,
  messageIds: string[],
  receivedAt: Date,
): Promise<Set<string>> {
  if (messageIds.length === 0) return new Set();
  const sorted = [...messageIds].sort();
  const { rows } = await client.query<{ message_id: string }>(
    `INSERT INTO event_dedupe (workspace_id, message_id, received_at)
     SELECT $1, unnest($2::text[]), $3
     ON CONFLICT DO NOTHING RETURNING message_id`,
    [workspaceId, sorted, receivedAt],
  );
  return new Set(rows.map((r) => r.message_id));
}

const EVENT_COPY =
  "COPY events (workspace_id, customer_id, message_id, type, name, occurred_at, received_at, properties, context) FROM STDIN";

/**
 * Inserts events in the caller's transaction. On a PostgreSQL server (`copy`) with COPY, which costs the server
 * less than half of an INSERT of the same rows; on the embedded database, which reads COPY data only from a
 * blob outside the client protocol, with one INSERT.
 */
export async function insertEvents(
  client: Queryable,
  workspaceId: number,
  events: EventRow[],
  copy = false,
): Promise<void> {
  if (events.length === 0) return;
  if (copy) {
    let text = "";
    for (const e of events) {
      text +=
        `${workspaceId}\t${e.customerId}\t${copyText(e.messageId)}\t${e.type}\t${e.name === null ? "\\N" : copyText(e.name)}\t` +
        `${e.occurredAt.toISOString()}\t${e.receivedAt.toISOString()}\t${copyText(e.propertiesJson)}\t` +
        `${e.contextJson === null ? "\\N" : copyText(e.contextJson)}\n`;
    }
    const stream = (client as unknown as pg.PoolClient).query(copyFrom(EVENT_COPY));
    await pipeline(Readable.from([Buffer.from(text)]), stream);
    return;
  }
  // One JSON document built from the already serialised properties and context: no second serialisation.
  const parts = events.map(
    (e) =>
      `{"c":${e.customerId},"m":${JSON.stringify(e.messageId)},"t":"${e.type}","n":${JSON.stringify(e.name)},` +
      `"o":"${e.occurredAt.toISOString()}","r":"${e.receivedAt.toISOString()}","p":${e.propertiesJson},"x":${e.contextJson ?? "null"}}`,
  );
  await client.query(
    `INSERT INTO events (workspace_id, customer_id, message_id, type, name, occurred_at, received_at, properties, context)
     SELECT $1, d.c, d.m, d.t, d.n, d.o, d.r, d.p, d.x
       FROM json_to_recordset($2::json)
         AS d(c bigint, m text, t text, n text, o timestamptz, r timestamptz, p jsonb, x jsonb)`,
    [workspaceId, `[${parts.join(",")}]`],
  );
}

/**
 * Forgets message ids older than the dedupe window (at least 7 days are kept). Ids of imported rows are kept for
 * good, so importing the same file again, however much later, adds nothing twice.
 */
export async function pruneMessageIds(db: Db, olderThan: Date): Promise<number> {
  const res = await db.pool.query(
    "DELETE FROM event_dedupe WHERE received_at < $1 AND message_id NOT LIKE 'import:%'",
    [olderThan],
  );
  return res.rowCount ?? 0;
}

export interface StoredEvent {
  messageId: string;
  type: string;
  name: string | null;
  occurredAt: Date;
  receivedAt: Date;
  properties: Record<string, unknown>;
  context: Record<string, unknown> | null;
}

/** One customer's events, newest first, paged by a cursor (the occurred_at and message id of the last row). */
export async function customerEvents(
  db: Db,
  workspaceId: number,
  customerId: string,
  limit: number,
  before?: { at: Date; messageId: string },
): Promise<StoredEvent[]> {
  let q = db.kysely
    .selectFrom("events")
    .select(["message_id", "type", "name", "occurred_at", "received_at", "properties", "context"])
    .where("workspace_id", "=", workspaceId)
    .where("customer_id", "=", customerId)
    .orderBy("occurred_at", "desc")
    .orderBy("message_id", "desc")
    .limit(limit);
  if (before) {
    q = q.where((eb) =>
      eb.or([
        eb("occurred_at", "<", before.at),
        eb.and([eb("occurred_at", "=", before.at), eb("message_id", "<", before.messageId)]),
      ]),
    );
  }
  const rows = await q.execute();
  return rows.map((r) => ({
    messageId: r.message_id,
    type: r.type,
    name: r.name,
    occurredAt: r.occurred_at,
    receivedAt: r.received_at,
    properties: r.properties,
    context: r.context,
  }));
}
