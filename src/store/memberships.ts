// Segment and stage memberships with their history, and the queue of customers due for evaluation.
// Ingestion marks customers due (with what changed); the refresher claims due customers, evaluates them and
// writes the differences; a full recompute does the same for the whole base in SQL.
import { randomUUID } from "node:crypto";
import type { Queryable } from "./customers.ts";

export type MembershipKind = "segment" | "stage";

/** A change of a membership, to be written with its event. */
export interface MembershipChange {
  customerId: string;
  kind: MembershipKind;
  /** segment name, or the new stage (null: the customer left every stage, e.g. a strategy without stages) */
  name: string | null;
  /** segments: entered (true) or left (false); stages: always true, `from` is the previous stage */
  entered: boolean;
  from?: string | null;
}

/** Keys of what changed, stored on the due row: 'profile', 'event:<name>', 'type:<type>', 'time', 'all'. */
export const ALL_CHANGED = "all";
export const TIME_CHANGED = "time";
const MAX_CHANGE_KEYS = 32; // beyond this, evaluate everything

/**
 * Marks customers due for evaluation now, merging what changed into any pending row. Rows are written in
 * customer order so that concurrent batches lock them in the same order.
 */
export async function markDue(
  client: Queryable,
  workspaceId: number,
  changes: ReadonlyMap<string, ReadonlySet<string>>,
  at: Date,
): Promise<void> {
  if (changes.size === 0) return;
  const ids = [...changes.keys()].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
  await client.query(
    `INSERT INTO membership_due AS d (workspace_id, customer_id, due_at, changes)
     SELECT $1, r.c, $2, ARRAY(SELECT jsonb_array_elements_text(r.k))
       FROM unnest($3::bigint[], $4::jsonb[]) WITH ORDINALITY AS r(c, k, i) ORDER BY r.i
     ON CONFLICT (workspace_id, customer_id) DO UPDATE
       SET due_at = LEAST(d.due_at, EXCLUDED.due_at),
           changes = CASE WHEN cardinality(d.changes) + cardinality(EXCLUDED.changes) > ${MAX_CHANGE_KEYS}
                          THEN ARRAY['${ALL_CHANGED}']
                          ELSE ARRAY(SELECT DISTINCT unnest(d.changes || EXCLUDED.changes)) END`,
    [workspaceId, at, ids, ids.map((id) => JSON.stringify([...(changes.get(id) ?? [])]))],
  );
}

export interface DueCustomer {
  workspaceId: number;
  customerId: string;
  changes: string[];
}

/** A customer due for a membership check at `$1` (the claim below and the engine's probe, engine/due-work.ts). */
export const MEMBERSHIP_DUE_SQL = "due_at <= $1";

/** Claims up to `limit` due customers, locked until the caller's transaction ends; others skip them. */
export async function claimDue(client: Queryable, now: Date, limit: number): Promise<DueCustomer[]> {
  const { rows } = await client.query<{ workspace_id: number; customer_id: string; changes: string[] }>(
    `SELECT workspace_id, customer_id, changes FROM membership_due
      WHERE ${MEMBERSHIP_DUE_SQL} ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
    [now, limit],
  );
  return rows.map((r) => ({ workspaceId: r.workspace_id, customerId: r.customer_id, changes: r.changes }));
}

/** After evaluation: the next time-driven check, or no row when nothing can change by time alone. */
export async function rescheduleDue(
  client: Queryable,
  workspaceId: number,
  next: ReadonlyMap<string, Date | null>,
): Promise<void> {
  const later = [...next].filter((e): e is [string, Date] => e[1] !== null);
  const done = [...next].filter(([, d]) => d === null).map(([id]) => id);
  if (done.length > 0) {
    await client.query(
      "DELETE FROM membership_due WHERE workspace_id = $1 AND customer_id = ANY($2::bigint[])",
      [workspaceId, done],
    );
  }
  if (later.length > 0) {
    await client.query(
      `UPDATE membership_due d SET due_at = r.at, changes = ARRAY['${TIME_CHANGED}']
         FROM unnest($2::bigint[], $3::timestamptz[]) AS r(c, at)
        WHERE d.workspace_id = $1 AND d.customer_id = r.c`,
      [workspaceId, later.map(([id]) => id), later.map(([, at]) => at)],
    );
  }
}

export interface OpenMemberships {
  segments: Set<string>;
  stage: string | null;
}

/**
 * Writes what one refresher round decided, in one statement: membership changes, each recorded as an event (and
 * copied to the engine's inbox when a scenario reacts to it), and each customer's next time-driven check (none:
 * the due row goes).
 */
export async function writeRefresh(
  client: Queryable,
  workspaceId: number,
  changes: readonly MembershipChange[],
  next: ReadonlyMap<string, Date | null>,
  at: Date,
): Promise<void> {
  const rows = changes.map((c) => ({
    c: c.customerId,
    k: c.kind,
    n: c.name,
    entered: c.entered,
    m: `tact:${randomUUID()}`,
    ev: c.kind === "stage" ? "stage_changed" : c.entered ? "segment_entered" : "segment_exited",
    p: c.kind === "stage" ? { from: c.from ?? null, to: c.name } : { segment: c.name },
  }));
  const later = [...next].filter((e): e is [string, Date] => e[1] !== null);
  const done = [...next].filter(([, d]) => d === null).map(([id]) => id);
  await client.query({
    name: "tact-write-refresh",
    text: `WITH ch AS (
       SELECT * FROM json_to_recordset($3::json) AS r(c bigint, k text, n text, entered boolean, m text, ev text, p jsonb)),
     closed AS (
       -- the customers also as an array: the index finds their rows whatever the plan kept for this statement
       -- expects of the table (planned when it was nearly empty, it read every open membership of the workspace)
       UPDATE memberships m SET left_at = $2 FROM ch
        WHERE m.workspace_id = $1 AND m.customer_id = ANY($7::bigint[]) AND m.customer_id = ch.c
          AND m.kind = ch.k AND m.left_at IS NULL AND (ch.k = 'stage' OR (NOT ch.entered AND m.name = ch.n))
       RETURNING 1),
     -- after \`closed\` (reading it makes it run first): a customer's new stage may not open while the old is open
     opened AS (
       INSERT INTO memberships (workspace_id, customer_id, kind, name, entered_at)
       SELECT $1, c, k, n, $2 FROM ch WHERE entered AND n IS NOT NULL AND (SELECT count(*) FROM closed) >= 0),
     recorded AS (
       INSERT INTO events (workspace_id, customer_id, message_id, type, name, occurred_at, received_at, properties)
       SELECT $1, c, m, 'track', ev, $2, $2, p FROM ch),
     inbox AS (
       INSERT INTO engine_inbox (workspace_id, customer_id, name, message_id, occurred_at, properties, received_at)
       SELECT $1, c, ev, m, $2, p, $2 FROM ch
        WHERE ev = ANY(COALESCE((SELECT inbox_events FROM strategy_versions WHERE workspace_id = $1
                                  ORDER BY version DESC LIMIT 1), '{}'))),
     finished AS (
       DELETE FROM membership_due WHERE workspace_id = $1 AND customer_id = ANY($4::bigint[])),
     -- again the customers as an array on the key, for the same reason (kept, the plan read the whole queue)
     rescheduled AS (
       UPDATE membership_due d SET due_at = r.at, changes = ARRAY['${TIME_CHANGED}']
         FROM unnest($5::bigint[], $6::timestamptz[]) AS r(c, at)
        WHERE d.workspace_id = $1 AND d.customer_id = ANY($5::bigint[]) AND d.customer_id = r.c)
     SELECT 1`,
    values: [
      workspaceId,
      at,
      JSON.stringify(rows),
      done,
      later.map(([id]) => id),
      later.map(([, t]) => t),
      [...new Set(changes.map((c) => c.customerId))],
    ],
  });
}

/** A merged-away customer leaves every segment and stage; the survivor is evaluated afresh. */
export async function closeMembershipsOfMerged(
  client: Queryable,
  workspaceId: number,
  from: string,
  at: Date,
): Promise<void> {
  await client.query(
    "UPDATE memberships SET left_at = $3 WHERE workspace_id = $1 AND customer_id = $2 AND left_at IS NULL",
    [workspaceId, from, at],
  );
  await client.query("DELETE FROM membership_due WHERE workspace_id = $1 AND customer_id = $2", [
    workspaceId,
    from,
  ]);
}

export interface MembershipRecord {
  kind: MembershipKind;
  name: string;
  enteredAt: Date;
  leftAt: Date | null;
}

/** One customer's segments and stages, current and past, newest first. */
export async function membershipHistory(
  client: Queryable,
  workspaceId: number,
  customerId: string,
): Promise<MembershipRecord[]> {
  const { rows } = await client.query<{
    kind: MembershipKind;
    name: string;
    entered_at: Date;
    left_at: Date | null;
  }>(
    `SELECT kind, name, entered_at, left_at FROM memberships
      WHERE workspace_id = $1 AND customer_id = $2 ORDER BY entered_at DESC, kind, name`,
    [workspaceId, customerId],
  );
  return rows.map((r) => ({ kind: r.kind, name: r.name, enteredAt: r.entered_at, leftAt: r.left_at }));
}

/** Current sizes: members per segment and customers per stage. */
export async function membershipSizes(
  client: Queryable,
  workspaceId: number,
): Promise<{ kind: MembershipKind; name: string; customers: number }[]> {
  const { rows } = await client.query<{ kind: MembershipKind; name: string; n: string }>(
    `SELECT kind, name, count(*) AS n FROM memberships
      WHERE workspace_id = $1 AND left_at IS NULL GROUP BY kind, name ORDER BY kind, name`,
    [workspaceId],
  );
  return rows.map((r) => ({ kind: r.kind, name: r.name, customers: Number(r.n) }));
}
