// Customers' positions in scenarios: one row per entry, claimed by workers when due, updated as steps run.
import type { Queryable } from "./customers.ts";

export type EntryState = "active" | "completed" | "exited" | "goal_reached" | "failed";

export interface Entry {
  workspaceId: number;
  entryId: string;
  customerId: string;
  scenario: string;
  version: number;
  enteredAt: Date;
  state: EntryState;
  stepId: string | null;
  dueAt: Date | null;
  waiting: { event: string; timeoutAt: string; arrived?: boolean } | null;
  variant: string | null;
  triggerEvent: Record<string, unknown> | null;
  context: Record<string, unknown>;
}

export type EntryRow = {
  workspace_id: number;
  entry_id: string;
  customer_id: string;
  scenario: string;
  version: number;
  entered_at: Date;
  state: EntryState;
  step_id: string | null;
  due_at: Date | null;
  waiting: Entry["waiting"];
  variant: string | null;
  trigger_event: Record<string, unknown> | null;
  context: Record<string, unknown>;
};

export const ENTRY_COLUMNS =
  "workspace_id, entry_id, customer_id, scenario, version, entered_at, state, step_id, due_at, waiting, variant, trigger_event, context";

export const toEntry = (r: EntryRow): Entry => ({
  workspaceId: r.workspace_id,
  entryId: r.entry_id,
  customerId: r.customer_id,
  scenario: r.scenario,
  version: r.version,
  enteredAt: r.entered_at,
  state: r.state,
  stepId: r.step_id,
  dueAt: r.due_at,
  waiting: r.waiting,
  variant: r.variant,
  triggerEvent: r.trigger_event,
  context: r.context,
});

export interface NewEntry {
  customerId: string;
  scenario: string;
  version: number;
  stepId: string | null;
  variant: string | null;
  /** in the global control group when entering; absent: not known */
  globalControl?: boolean;
  triggerEvent: Record<string, unknown> | null;
}

export async function insertEntry(
  client: Queryable,
  workspaceId: number,
  e: NewEntry,
  at: Date,
): Promise<Entry> {
  const { rows } = await client.query<EntryRow>(
    `INSERT INTO scenario_entries
       (workspace_id, customer_id, scenario, version, entered_at, state, step_id, due_at, variant, trigger_event,
        updated_at, global_control)
     VALUES ($1, $2, $3, $4, $5, CASE WHEN $6::text IS NULL THEN 'completed' ELSE 'active' END, $6,
             CASE WHEN $6::text IS NULL THEN NULL ELSE $5::timestamptz END, $7, $8, $5, $9)
     RETURNING ${ENTRY_COLUMNS}`,
    [
      workspaceId,
      e.customerId,
      e.scenario,
      e.version,
      at,
      e.stepId,
      e.variant,
      e.triggerEvent,
      e.globalControl ?? null,
    ],
  );
  const row = rows[0];
  if (!row) throw new Error("entry was not stored");
  return toEntry(row);
}

/** Due entries, locked until the caller's transaction ends; other workers skip them. */
export async function claimDueEntries(client: Queryable, now: Date, limit: number): Promise<Entry[]> {
  const { rows } = await client.query<EntryRow>(
    `SELECT ${ENTRY_COLUMNS} FROM scenario_entries
      WHERE state = 'active' AND due_at <= $1 ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
    [now, limit],
  );
  return rows.map(toEntry);
}

/** The customer's entries of these scenarios: the active one, or the latest, per scenario. */
export async function latestEntries(
  client: Queryable,
  workspaceId: number,
  customerId: string,
  scenarios: readonly string[],
): Promise<Map<string, Entry>> {
  const { rows } = await client.query<EntryRow>(
    `SELECT DISTINCT ON (scenario) ${ENTRY_COLUMNS} FROM scenario_entries
      WHERE workspace_id = $1 AND customer_id = $2 AND scenario = ANY($3::text[])
      ORDER BY scenario, (state = 'active') DESC, entered_at DESC`,
    [workspaceId, customerId, scenarios],
  );
  return new Map(rows.map((r) => [r.scenario, toEntry(r)]));
}

/** Active entries of a customer (to wake the ones waiting for an event, or check goals). */
export async function activeEntries(
  client: Queryable,
  workspaceId: number,
  customerId: string,
): Promise<Entry[]> {
  const { rows } = await client.query<EntryRow>(
    `SELECT ${ENTRY_COLUMNS} FROM scenario_entries
      WHERE workspace_id = $1 AND customer_id = $2 AND state = 'active' FOR UPDATE`,
    [workspaceId, customerId],
  );
  return rows.map(toEntry);
}

export async function saveEntry(client: Queryable, e: Entry, at: Date, exitReason?: string): Promise<void> {
  await client.query(
    `UPDATE scenario_entries SET state = $3, step_id = $4, due_at = $5, waiting = $6, variant = $7, context = $8,
            exit_reason = COALESCE($9, exit_reason), updated_at = $10
      WHERE workspace_id = $1 AND entry_id = $2`,
    [
      e.workspaceId,
      e.entryId,
      e.state,
      e.stepId,
      e.dueAt,
      e.waiting === null ? null : JSON.stringify(e.waiting),
      e.variant,
      JSON.stringify(e.context),
      exitReason ?? null,
      at,
    ],
  );
}

/** Per scenario: entries by state. */
export async function entryCounts(
  client: Queryable,
  workspaceId: number,
): Promise<{ scenario: string; state: EntryState; n: number }[]> {
  const { rows } = await client.query<{ scenario: string; state: EntryState; n: string }>(
    "SELECT scenario, state, count(*) AS n FROM scenario_entries WHERE workspace_id = $1 GROUP BY 1, 2",
    [workspaceId],
  );
  return rows.map((r) => ({ scenario: r.scenario, state: r.state, n: Number(r.n) }));
}
