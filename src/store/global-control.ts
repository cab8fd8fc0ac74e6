// The global control group's salt periods: the workspace's own salt until the first rotation, then one row per
// rotation. Rows are only ever added, so who was held out at any past moment can always be computed again.
import { randomBytes } from "node:crypto";
import type { Queryable } from "./customers.ts";

export interface StoredSaltPeriod {
  salt: string;
  /** epoch ms; 0 for the workspace's own salt, in force since the beginning */
  from: number;
  rotatedBy: string;
}

/** Every period, oldest first. Without a rotation: the workspace's salt since the beginning. */
export async function globalControlPeriods(
  client: Queryable,
  workspaceId: number,
): Promise<StoredSaltPeriod[]> {
  const { rows } = await client.query<{ salt: string; starts_at: Date; rotated_by: string }>(
    `SELECT salt, starts_at, rotated_by FROM global_control_periods WHERE workspace_id = $1
     UNION ALL
     SELECT w.salt, 'epoch'::timestamptz, '' FROM workspaces w
      WHERE w.workspace_id = $1
        AND NOT EXISTS (SELECT 1 FROM global_control_periods p WHERE p.workspace_id = $1)
     ORDER BY 2`,
    [workspaceId],
  );
  return rows.map((r) => ({ salt: r.salt, from: r.starts_at.getTime(), rotatedBy: r.rotated_by }));
}

/**
 * Starts a new period with a fresh salt at `at`: a new control group is drawn for decisions from then on, and the
 * earlier periods stay as they were. The first rotation also records the workspace's salt as the first period.
 */
export async function rotateGlobalControlSalt(
  client: Queryable,
  workspaceId: number,
  at: Date,
  by: string,
): Promise<StoredSaltPeriod[]> {
  await client.query("SELECT pg_advisory_xact_lock(7274060, $1)", [workspaceId]);
  const latest = await client.query<{ starts_at: Date }>(
    "SELECT max(starts_at) AS starts_at FROM global_control_periods WHERE workspace_id = $1",
    [workspaceId],
  );
  const last = latest.rows[0]?.starts_at;
  if (last && last.getTime() >= at.getTime())
    throw new RotationError(
      `the current period started at ${last.toISOString()}: a rotation must come after it`,
    );
  await client.query(
    `INSERT INTO global_control_periods (workspace_id, starts_at, salt, rotated_by)
     SELECT workspace_id, 'epoch'::timestamptz, salt, '' FROM workspaces
      WHERE workspace_id = $1 AND NOT EXISTS (SELECT 1 FROM global_control_periods WHERE workspace_id = $1)`,
    [workspaceId],
  );
  await client.query(
    "INSERT INTO global_control_periods (workspace_id, starts_at, salt, rotated_by) VALUES ($1, $2, $3, $4)",
    [workspaceId, at, randomBytes(16).toString("hex"), by],
  );
  return globalControlPeriods(client, workspaceId);
}

export class RotationError extends Error {}
