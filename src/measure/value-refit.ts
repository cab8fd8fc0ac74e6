// Keeps customer value current: the worker refits the value models of a workspace once its last fit is older
// than the refit interval and buyers' profiles changed since (new orders or refunds), and of a workspace whose
// strategy reads the value but was never fitted. One process refits a workspace at a time.

import { currentValueModel } from "../store/customer-value.ts";
import type { Db } from "../store/db.ts";
import { listWorkspaces } from "../store/workspaces.ts";
import { fitCustomerValue, type ValueFitResult } from "./value-fit.ts";

const REFIT_LOCK = 7_274_011;

export interface RefitOptions {
  now: Date;
  /** a fit younger than this is kept */
  everyMs: number;
  /** whether the workspace's strategy in force reads the value (it is then fitted even if it never was) */
  readsValue: (workspaceId: number) => Promise<boolean>;
}

/** Refits every workspace that is due; returns the fits made, by workspace id. */
export async function refitStaleValues(db: Db, o: RefitOptions): Promise<Map<number, ValueFitResult>> {
  const out = new Map<number, ValueFitResult>();
  for (const ws of await listWorkspaces(db)) {
    const last = await currentValueModel(db, ws.id);
    if (last && o.now.getTime() - last.fittedAt.getTime() < o.everyMs) continue;
    if (!last && !(await o.readsValue(ws.id))) continue;
    const { rows } = await db.pool.query<{ changed: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM customers WHERE workspace_id = $1 AND orders > 0 AND updated_at > $2) AS changed`,
      [ws.id, last?.fittedAt ?? new Date(0)],
    );
    if (!rows[0]?.changed) continue;
    const fit = await exclusively(db, ws.id, () =>
      fitCustomerValue(db, ws.id, { now: o.now, ...(last ? { horizonDays: last.horizonDays } : {}) }),
    );
    if (fit) out.set(ws.id, fit);
  }
  return out;
}

/**
 * Runs fn unless another process holds the workspace's refit lock (a session lock on a connection of its own).
 * The embedded database belongs to one process: no lock is needed, and its one connection is not held.
 */
async function exclusively<T>(db: Db, workspaceId: number, fn: () => Promise<T>): Promise<T | undefined> {
  if (db.backend === "pglite") return fn();
  const client = await db.pool.connect();
  try {
    const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1, $2) AS ok", [
      REFIT_LOCK,
      workspaceId,
    ]);
    if (!rows[0]?.ok) return undefined;
    try {
      return await fn();
    } finally {
      await client.query("SELECT pg_advisory_unlock($1, $2)", [REFIT_LOCK, workspaceId]);
    }
  } finally {
    client.release();
  }
}
