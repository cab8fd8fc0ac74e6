// The ingestion log (migration 005): accepted tracking requests, committed before they are answered and applied
// to customers and events afterwards. One row per request: its call and body as they came, and the positions of
// the messages validation refused.
import type { Queryable } from "./customers.ts";
import type { Db } from "./db.ts";

export interface LoggedRequest {
  workspaceId: number;
  receivedAt: Date;
  /** messages to apply */
  events: number;
  /** `batch`, or the call type of a single-call endpoint */
  call: string;
  payload: string;
  skip: number[];
}

export interface LogEntry extends LoggedRequest {
  id: string;
}

/** Commits one request's messages; returns the entry's id. */
export async function appendLog(db: Db, r: LoggedRequest): Promise<string> {
  return (await appendLogs(db, [r]))[0] as string;
}

/** Commits several requests' messages in one statement; returns the entries' ids, in the order given. */
export async function appendLogs(db: Db, rs: readonly LoggedRequest[]): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>({
    name: "tact-append-log",
    text: `INSERT INTO ingest_log (workspace_id, received_at, events, call, payload, skip)
           SELECT w, r, e, c, p, s::int[]
             FROM unnest($1::int[], $2::timestamptz[], $3::int[], $4::text[], $5::text[], $6::text[])
                  WITH ORDINALITY AS t(w, r, e, c, p, s, i)
            ORDER BY i
           RETURNING id`,
    values: [
      rs.map((r) => r.workspaceId),
      rs.map((r) => r.receivedAt),
      rs.map((r) => r.events),
      rs.map((r) => r.call),
      rs.map((r) => r.payload),
      rs.map((r) => `{${r.skip.join(",")}}`),
    ],
  });
  // ids come from the identity in insertion order, which follows the ORDER BY
  return rows.map((r) => r.id).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
}

/**
 * Entries to apply, oldest first, up to `maxEvents` messages (at least one entry): those named in `ids`, and any
 * entry received before `orphanedBefore` (left by a process that stopped before applying it). Read without
 * locking: `lockEntries` decides which of them this applier gets.
 */
export async function peekEntries(
  db: Db,
  ids: readonly string[],
  orphanedBefore: Date,
  maxEvents: number,
): Promise<LogEntry[]> {
  const { rows: heads } = await db.pool.query<{ id: string; events: number }>(
    `SELECT id, events FROM ingest_log
      WHERE failed IS NULL AND (id = ANY($1::bigint[]) OR received_at < $2)
      ORDER BY id LIMIT 1000`,
    [ids, orphanedBefore],
  );
  const pick: string[] = [];
  let total = 0;
  for (const h of heads) {
    if (pick.length > 0 && total + h.events > maxEvents) break;
    pick.push(h.id);
    total += h.events;
  }
  if (pick.length === 0) return [];
  const { rows } = await db.pool.query<{
    id: string;
    workspace_id: number;
    received_at: Date;
    events: number;
    call: string;
    payload: string;
    skip: number[];
  }>(
    `SELECT id, workspace_id, received_at, events, call, payload, skip FROM ingest_log
      WHERE id = ANY($1::bigint[]) ORDER BY id`,
    [pick],
  );
  return rows.map((r) => ({
    id: r.id,
    workspaceId: r.workspace_id,
    receivedAt: r.received_at,
    events: r.events,
    call: r.call,
    payload: r.payload,
    skip: r.skip,
  }));
}

/** Locks those of `ids` still waiting and not held by another applier; returns their ids. */
export async function lockEntries(client: Queryable, ids: readonly string[]): Promise<string[]> {
  const { rows } = await client.query<{ id: string }>(
    "SELECT id FROM ingest_log WHERE id = ANY($1::bigint[]) AND failed IS NULL FOR UPDATE SKIP LOCKED",
    [ids],
  );
  return rows.map((r) => r.id);
}

export async function deleteEntries(client: Queryable, ids: readonly string[]): Promise<void> {
  if (ids.length > 0) await client.query("DELETE FROM ingest_log WHERE id = ANY($1::bigint[])", [ids]);
}

export async function markFailed(db: Db, id: string, reason: string): Promise<void> {
  await db.pool.query("UPDATE ingest_log SET failed = $2 WHERE id = $1", [id, reason.slice(0, 2000)]);
}

/** Messages waiting to be applied, and failed entries kept for inspection. */
export async function logBacklog(db: Db): Promise<{ events: number; entries: number; failed: number }> {
  const { rows } = await db.pool.query<{ events: string; entries: string; failed: string }>(
    `SELECT coalesce(sum(events) FILTER (WHERE failed IS NULL), 0) AS events,
            count(*) FILTER (WHERE failed IS NULL) AS entries,
            count(*) FILTER (WHERE failed IS NOT NULL) AS failed
       FROM ingest_log`,
  );
  const r = rows[0] as { events: string; entries: string; failed: string };
  return { events: Number(r.events), entries: Number(r.entries), failed: Number(r.failed) };
}
