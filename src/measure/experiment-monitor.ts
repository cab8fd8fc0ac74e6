// The worker's look at every running scenario experiment of every workspace (hourly, beside the value refit):
// the sequential test over customers whose goal window has closed, a winner stored once declared. One process
// looks at a workspace at a time (a session advisory lock on PostgreSQL), so looks never interleave.
import type { Db } from "../store/db.ts";
import { type ExperimentDecision, experimentDecision } from "../store/experiment-decisions.ts";
import { currentStrategyVersion } from "../store/strategies.ts";
import { listWorkspaces } from "../store/workspaces.ts";
import { loadStrategy } from "../strategy/load.ts";
import { closedWindowTotals } from "./scenario-experiment.ts";
import { monitorExperiments } from "./scenario-winner.ts";

const MONITOR_LOCK = 7_274_061;

/** Looks at the experiments of one workspace at `now`; returns the decisions as stored after the look. */
export async function monitorWorkspaceExperiments(
  db: Db,
  workspaceId: number,
  now: Date,
): Promise<ExperimentDecision[]> {
  const stored = await currentStrategyVersion(db.pool, workspaceId);
  const loaded = stored ? loadStrategy(stored.source, `strategy version ${stored.version}`) : null;
  if (!loaded?.ok) return [];
  const strategy = loaded.strategy;
  if (!Object.values(strategy.scenarios).some((s) => s.experiment)) return [];
  const look = () =>
    monitorExperiments(
      db,
      workspaceId,
      strategy,
      now,
      { totals: (sc, at) => closedWindowTotals(db, workspaceId, strategy, sc, at) },
      (sc, key) => experimentDecision(db.pool, workspaceId, sc.name, key),
    );
  // The embedded database belongs to one process, and holding its one connection would block the look itself.
  if (db.backend === "pglite") return look();
  const client = await db.pool.connect();
  try {
    const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1, $2) AS ok", [
      MONITOR_LOCK,
      workspaceId,
    ]);
    if (!rows[0]?.ok) return [];
    try {
      return await look();
    } finally {
      await client.query("SELECT pg_advisory_unlock($1, $2)", [MONITOR_LOCK, workspaceId]);
    }
  } finally {
    client.release();
  }
}

/** Every workspace's experiments; returns the winners declared by this round, by workspace id. */
export async function monitorAllExperiments(db: Db, now: Date): Promise<Map<number, ExperimentDecision[]>> {
  const out = new Map<number, ExperimentDecision[]>();
  for (const ws of await listWorkspaces(db)) {
    const decisions = await monitorWorkspaceExperiments(db, ws.id, now);
    const fresh = decisions.filter((d) => d.declaredAt?.getTime() === now.getTime());
    if (fresh.length > 0) out.set(ws.id, fresh);
  }
  return out;
}
