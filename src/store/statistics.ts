// Keeps the planner's statistics current as tables grow. PGlite runs no autovacuum, and a server may have it
// off; without statistics the identity lookup is planned as a scan of the whole workspace, and the reports join
// a period's orders (order_facts) or a scenario's entries row by row, as if there were a handful. An ANALYZE also
// replaces the plans the sessions keep for their named statements: the sender's outcome write, planned once when
// `messages` held a few hundred rows, kept scanning the whole table on every write (13 ms a write at 30,000
// messages, two thirds of the database's time under 1,000 triggered emails a second).
import type { Db } from "./db.ts";

interface Growth {
  rowsSince: number;
  threshold: number;
  running: boolean;
}

const growth = new WeakMap<Db, Growth>();
const TABLES = "customers, identities, event_dedupe, order_facts, scenario_entries, messages";

/**
 * Counts rows written (events stored, journeys and messages the engine handled); past a threshold (that doubles
 * each time, from 2,000) it analyses in the background.
 */
export function noteGrowth(db: Db, rows: number): void {
  let g = growth.get(db);
  if (!g) {
    g = { rowsSince: 0, threshold: 2_000, running: false };
    growth.set(db, g);
  }
  g.rowsSince += rows;
  if (g.running || g.rowsSince < g.threshold) return;
  g.running = true;
  const state = g;
  db.pool
    .query(`ANALYZE ${TABLES}`)
    .catch(() => undefined) // statistics are an optimisation; a failure here loses nothing
    .finally(() => {
      state.rowsSince = 0;
      state.threshold = Math.min(state.threshold * 2, 2_000_000);
      state.running = false;
    });
}

export async function analyze(db: Db): Promise<void> {
  await db.pool.query(`ANALYZE ${TABLES}`);
}
