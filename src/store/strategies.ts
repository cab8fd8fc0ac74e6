// Versions of a workspace's strategy document: each apply stores the source text, a new version number and who
// applied it; the newest version is the one in force.
import { createHash } from "node:crypto";
import type { Queryable } from "./customers.ts";

export interface StrategyVersion {
  version: number;
  name: string;
  source: string;
  checksum: string;
  appliedAt: Date;
  appliedBy: string;
}

type Row = {
  version: number;
  name: string;
  source: string;
  checksum: string;
  applied_at: Date;
  applied_by: string;
};

const toVersion = (r: Row): StrategyVersion => ({
  version: r.version,
  name: r.name,
  source: r.source,
  checksum: r.checksum,
  appliedAt: r.applied_at,
  appliedBy: r.applied_by,
});

export function strategyChecksum(source: string): string {
  return createHash("sha256").update(source).digest("hex");
}

/** Stores a new version; the caller's transaction also recomputes memberships, so both land or neither. */
export async function insertStrategyVersion(
  client: Queryable,
  workspaceId: number,
  v: { name: string; source: string; document: unknown; appliedBy: string; inboxEvents: readonly string[] },
  at: Date,
): Promise<StrategyVersion> {
  // Serialises concurrent applies of one workspace; numbers stay dense.
  await client.query("SELECT pg_advisory_xact_lock(7274020, $1)", [workspaceId]);
  const { rows } = await client.query<Row>(
    // inbox_events accumulate over versions: customers may still be running an older one.
    `INSERT INTO strategy_versions
       (workspace_id, version, name, source, document, checksum, applied_at, applied_by, inbox_events)
     SELECT $1, COALESCE(max(version), 0) + 1, $2, $3, $4, $5, $6, $7,
            ARRAY(SELECT DISTINCT n FROM unnest($8::text[] || COALESCE(
              (SELECT inbox_events FROM strategy_versions WHERE workspace_id = $1 ORDER BY version DESC LIMIT 1),
              '{}')) AS n ORDER BY n)
       FROM strategy_versions WHERE workspace_id = $1
     RETURNING version, name, source, checksum, applied_at, applied_by`,
    [
      workspaceId,
      v.name,
      v.source,
      JSON.stringify(v.document),
      strategyChecksum(v.source),
      at,
      v.appliedBy,
      [...v.inboxEvents],
    ],
  );
  const row = rows[0];
  if (!row) throw new Error("strategy version was not stored");
  return toVersion(row);
}

export async function currentStrategyVersion(
  client: Queryable,
  workspaceId: number,
): Promise<StrategyVersion | null> {
  const { rows } = await client.query<Row>(
    `SELECT version, name, source, checksum, applied_at, applied_by FROM strategy_versions
      WHERE workspace_id = $1 ORDER BY version DESC LIMIT 1`,
    [workspaceId],
  );
  return rows[0] ? toVersion(rows[0]) : null;
}

/** The currency of the strategy in force (every money amount's unit); null when none was applied. */
export async function currentCurrency(client: Queryable, workspaceId: number): Promise<string | null> {
  const { rows } = await client.query<{ currency: string | null }>(
    `SELECT document ->> 'currency' AS currency FROM strategy_versions
      WHERE workspace_id = $1 ORDER BY version DESC LIMIT 1`,
    [workspaceId],
  );
  return rows[0]?.currency ?? null;
}

export async function strategyVersion(
  client: Queryable,
  workspaceId: number,
  version: number,
): Promise<StrategyVersion | null> {
  const { rows } = await client.query<Row>(
    `SELECT version, name, source, checksum, applied_at, applied_by FROM strategy_versions
      WHERE workspace_id = $1 AND version = $2`,
    [workspaceId, version],
  );
  return rows[0] ? toVersion(rows[0]) : null;
}

/** Every version, newest first, without the source text. */
export async function listStrategyVersions(
  client: Queryable,
  workspaceId: number,
): Promise<Omit<StrategyVersion, "source">[]> {
  const { rows } = await client.query<Omit<Row, "source">>(
    `SELECT version, name, checksum, applied_at, applied_by FROM strategy_versions
      WHERE workspace_id = $1 ORDER BY version DESC`,
    [workspaceId],
  );
  return rows.map((r) => ({
    version: r.version,
    name: r.name,
    checksum: r.checksum,
    appliedAt: r.applied_at,
    appliedBy: r.applied_by,
  }));
}

/** The newest version number of the workspace, cheap enough to ask on every refresh round. */
export async function currentVersionNumber(client: Queryable, workspaceId: number): Promise<number | null> {
  const { rows } = await client.query<{ v: number | null }>(
    "SELECT max(version) AS v FROM strategy_versions WHERE workspace_id = $1",
    [workspaceId],
  );
  return rows[0]?.v ?? null;
}
