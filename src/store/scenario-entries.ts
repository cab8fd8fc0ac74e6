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

const INSERT_CHUNK = 10_000;

/**
 * Stores new entries, all entered at `at`: each is due at its `dueAt` (default `at`) at its first step, or
 * completed at once when the scenario has no step. Written set-wise, 10,000 a statement.
 */
export async function insertEntries(
  client: Queryable,
  entries: readonly (NewEntry & { workspaceId: number; dueAt?: Date })[],
  at: Date,
): Promise<void> {
  for (let i = 0; i < entries.length; i += INSERT_CHUNK) {
    const chunk = entries.slice(i, i + INSERT_CHUNK);
    await client.query({
      name: "tact-insert-entries",
      text: `INSERT INTO scenario_entries (workspace_id, customer_id, scenario, version, entered_at, state, step_id,
                                           due_at, variant, trigger_event, updated_at, global_control)
         SELECT r.ws, r.c, r.s, r.v, $1, CASE WHEN r.step IS NULL THEN 'completed' ELSE 'active' END, r.step,
                CASE WHEN r.step IS NULL THEN NULL ELSE r.due END, r.variant, r.t::jsonb, $1, r.g
           FROM unnest($2::int[], $3::bigint[], $4::text[], $5::int[], $6::text[], $7::timestamptz[], $8::text[],
                       $9::text[], $10::boolean[]) AS r(ws, c, s, v, step, due, variant, t, g)`,
      values: [
        at,
        chunk.map((e) => e.workspaceId),
        chunk.map((e) => e.customerId),
        chunk.map((e) => e.scenario),
        chunk.map((e) => e.version),
        chunk.map((e) => e.stepId),
        chunk.map((e) => e.dueAt ?? at),
        chunk.map((e) => e.variant),
        chunk.map((e) => (e.triggerEvent === null ? null : JSON.stringify(e.triggerEvent))),
        chunk.map((e) => e.globalControl ?? null),
      ],
    });
  }
}

/** An entry whose next step is due at `$1` (the claim below and the engine's probe, engine/due-work.ts). */
export const ENTRY_DUE_SQL = "state = 'active' AND due_at <= $1";

/** Due entries, locked until the caller's transaction ends; other workers skip them. */
export async function claimDueEntries(client: Queryable, now: Date, limit: number): Promise<Entry[]> {
  const { rows } = await client.query<EntryRow>(
    `SELECT ${ENTRY_COLUMNS} FROM scenario_entries
      WHERE ${ENTRY_DUE_SQL} ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
    [now, limit],
  );
  return rows.map(toEntry);
}

/** Each customer's entries, one per scenario: the active one, else the latest. */
export async function latestEntries(
  client: Queryable,
  workspaceId: number,
  customerIds: readonly string[],
): Promise<Map<string, Map<string, Entry>>> {
  const { rows } = await client.query<EntryRow>({
    name: "tact-latest-entries",
    text: `SELECT DISTINCT ON (customer_id, scenario) ${ENTRY_COLUMNS} FROM scenario_entries
      WHERE workspace_id = $1 AND customer_id = ANY($2::bigint[])
      ORDER BY customer_id, scenario, (state = 'active') DESC, entered_at DESC`,
    values: [workspaceId, customerIds],
  });
  const out = new Map<string, Map<string, Entry>>();
  for (const r of rows) {
    const e = toEntry(r);
    const byScenario = out.get(e.customerId) ?? new Map<string, Entry>();
    byScenario.set(e.scenario, e);
    out.set(e.customerId, byScenario);
  }
  return out;
}

/** Writes entries' positions, states and contexts (and the exit reason, when given) in one statement. */
export async function saveEntries(
  client: Queryable,
  saved: readonly { entry: Entry; reason: string | null }[],
  at: Date,
): Promise<void> {
  if (saved.length === 0) return;
  await client.query({
    // planned at each run, with the table as it is now: see "Kept plans" in store/db.ts
    text: `UPDATE scenario_entries e SET state = d.state, step_id = d.step, due_at = d.due, waiting = d.waiting,
              variant = d.variant, context = d.context, exit_reason = COALESCE(d.reason, e.exit_reason),
              updated_at = $1
       FROM json_to_recordset($2::json) AS d(ws integer, id bigint, state text, step text, due timestamptz,
                                             waiting jsonb, variant text, context jsonb, reason text)
      WHERE e.workspace_id = d.ws AND e.entry_id = d.id`,
    values: [
      at,
      JSON.stringify(
        saved.map(({ entry: e, reason }) => ({
          ws: e.workspaceId,
          id: e.entryId,
          state: e.state,
          step: e.stepId,
          due: e.dueAt,
          waiting: e.waiting,
          variant: e.variant,
          context: e.context,
          reason,
        })),
      ),
    ],
  });
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
