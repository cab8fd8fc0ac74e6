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
  /** rows since the event partitions were last looked at */
  sinceCheck: number;
  running: boolean;
}

const growth = new WeakMap<Db, Growth>();
const TABLES =
  "customers, identities, event_dedupe, order_facts, scenario_entries, messages, memberships, membership_due";
/** the event partitions are looked at after this many rows, whatever the tables' threshold */
const PARTITION_CHECK_ROWS = 20_000;

/**
 * Counts rows written (events stored, journeys and messages the engine handled); past a threshold (that doubles
 * each time, from 2,000) it analyses the growing tables in the background, and every 20,000 rows the event
 * partitions written to since their last analysis. A month's partition starts empty: planned as empty while it
 * fills, every customer's read of its events scanned all of it (in a simulation, 25 ms → 230 ms a read of 170
 * customers once the new month had 50,000 events).
 */
export function noteGrowth(db: Db, rows: number): void {
  let g = growth.get(db);
  if (!g) {
    g = { rowsSince: 0, threshold: 2_000, sinceCheck: 0, running: false };
    growth.set(db, g);
  }
  g.rowsSince += rows;
  g.sinceCheck += rows;
  if (g.running) return;
  const tables = g.rowsSince >= g.threshold;
  if (!tables && g.sinceCheck < PARTITION_CHECK_ROWS) return;
  g.running = true;
  const state = g;
  analyzeGrowth(db, tables)
    .catch(() => undefined) // statistics are an optimisation; a failure here loses nothing
    .finally(() => {
      state.sinceCheck = 0;
      if (tables) {
        state.rowsSince = 0;
        state.threshold = Math.min(state.threshold * 2, 2_000_000);
      }
      state.running = false;
    });
}

/**
 * The event partitions changed by more than autovacuum's own rule (50 rows and 10%) since their last analysis:
 * on a server with autovacuum off, or before it comes round, and on PGlite, which has none.
 */
async function staleEventPartitions(db: Db): Promise<string[]> {
  const { rows } = await db.pool.query<{ name: string }>(
    `SELECT quote_ident(s.schemaname) || '.' || quote_ident(s.relname) AS name
       FROM pg_inherits i JOIN pg_stat_user_tables s ON s.relid = i.inhrelid
      WHERE i.inhparent = 'events'::regclass AND s.n_mod_since_analyze > 50 + 0.1 * s.n_live_tup`,
  );
  return rows.map((r) => r.name);
}

async function analyzeGrowth(db: Db, tables: boolean): Promise<void> {
  const list = [...(tables ? [TABLES] : []), ...(await staleEventPartitions(db))];
  if (list.length > 0) await db.pool.query(`ANALYZE ${list.join(", ")}`);
}

export async function analyze(db: Db): Promise<void> {
  await analyzeGrowth(db, true);
}
