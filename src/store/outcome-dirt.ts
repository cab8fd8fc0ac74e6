// What the outcome pass (measure/kept-outcomes.ts) reads and clears besides the entries: the customers whose kept
// outcomes late events may have made stale (outcome_dirt, written by the events' triggers of migration 021 and by
// merges), and the horizon before which a window is safe to keep.
import type { Db, Queryable } from "./db.ts";

/**
 * An event is late when its time is more than this before its transaction began (migration 021 writes the same
 * hour): only late events mark a customer's outcomes stale, so only windows that ended this long before the
 * oldest transaction still running may be kept.
 */
export const LATE_MS = 3_600_000;

export interface PassClock {
  /** the database's time as the pass starts: entries it keeps are stamped later */
  start: Date;
  /** windows that ended before this are kept */
  horizon: Date;
}

/**
 * The pass's start and horizon: an hour before now, or before the oldest transaction of this database still open
 * (its late events are not visible yet, and would mark no customer if written before the outcome was kept). Read
 * before the pass takes any snapshot of the data, so every transaction it does not see is counted here.
 */
export async function passClock(db: Db): Promise<PassClock> {
  const oldest =
    db.backend === "postgres"
      ? `(SELECT min(xact_start) FROM pg_stat_activity
           WHERE datname = current_database() AND pid <> pg_backend_pid())`
      : "NULL::timestamptz";
  const { rows } = await db.pool.query<{ start: Date; horizon: Date }>(
    `SELECT clock_timestamp() AS start,
            LEAST(clock_timestamp(), ${oldest}) - $1 * interval '1 millisecond' AS horizon`,
    [LATE_MS],
  );
  const row = rows[0];
  if (!row) throw new Error("no clock");
  return row;
}

/** The newest stale mark of the workspace (0: none): the pass clears the marks up to it. */
export async function dirtMark(db: Db, workspaceId: number): Promise<string> {
  const { rows } = await db.pool.query<{ id: string | null }>(
    "SELECT max(id) AS id FROM outcome_dirt WHERE workspace_id = $1",
    [workspaceId],
  );
  return rows[0]?.id ?? "0";
}

/**
 * Forgets the kept outcomes of the customers marked up to `mark`, for the pass to compute them again; an entry
 * another transaction holds is left for the next pass (and so is its customer's mark).
 */
export async function forgetDirty(db: Db, workspaceId: number, mark: string): Promise<number> {
  const res = await db.pool.query(
    `UPDATE scenario_entries se SET kept_for = NULL, kept_all_for = NULL
      WHERE se.workspace_id = $1 AND se.entry_id IN (
        SELECT s.entry_id FROM scenario_entries s
         WHERE s.workspace_id = $1
           AND s.customer_id IN (SELECT d.customer_id FROM outcome_dirt d WHERE d.workspace_id = $1 AND d.id <= $2)
           AND (s.kept_for IS NOT NULL OR s.kept_all_for IS NOT NULL)
           FOR UPDATE SKIP LOCKED)`,
    [workspaceId, mark],
  );
  return res.rowCount ?? 0;
}

/**
 * Clears the marks up to `mark` of the customers none of whose entries still holds an outcome kept before the
 * pass started: the pass has forgotten or recomputed them all.
 */
export async function clearDirt(db: Db, workspaceId: number, mark: string, start: Date): Promise<number> {
  const res = await db.pool.query(
    `DELETE FROM outcome_dirt d
      WHERE d.workspace_id = $1 AND d.id <= $2
        AND NOT EXISTS (SELECT 1 FROM scenario_entries se
                         WHERE se.workspace_id = $1 AND se.customer_id = d.customer_id
                           AND ((se.kept_for IS NOT NULL AND se.kept_at < $3)
                             OR (se.kept_all_for IS NOT NULL AND se.kept_all_at < $3)))`,
    [workspaceId, mark, start],
  );
  return res.rowCount ?? 0;
}

/** Marks a customer's kept outcomes stale (a merge brought them another customer's entries and events). */
export async function markDirty(client: Queryable, workspaceId: number, customerId: string): Promise<void> {
  await client.query("SELECT tact_outcome_dirty($1, $2)", [workspaceId, customerId]);
}
