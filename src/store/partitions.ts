// Monthly partitions of the events table: created ahead at start and on demand for imported history,
// so a month of old data is one table to scan or drop.
import type { Db } from "./db.ts";

const known = new WeakMap<Db, Set<string>>();
const LOCK_KEY = 7_274_002;

function monthKey(d: Date): string {
  return `${d.getUTCFullYear()}_${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
}

function partitionName(key: string): string {
  return `events_p${key}`;
}

/** Makes sure a partition exists for the month of every given time. Cheap when they already do. */
export async function ensureEventPartitions(db: Db, times: Iterable<Date>): Promise<void> {
  let cache = known.get(db);
  if (!cache) {
    cache = new Set();
    known.set(db, cache);
  }
  const missing = new Map<string, Date>();
  for (const t of times) {
    const key = monthKey(t);
    if (!cache.has(key) && !missing.has(key)) missing.set(key, t);
  }
  if (missing.size === 0) return;
  const existing = await listEventPartitions(db);
  for (const p of existing) cache.add(p.month);
  const toCreate = [...missing.entries()].filter(([key]) => !cache.has(key));
  if (toCreate.length === 0) return;
  const client = await db.pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1)", [LOCK_KEY]);
    for (const [key, t] of toCreate) {
      const from = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), 1));
      const to = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + 1, 1));
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${partitionName(key)} PARTITION OF events
         FOR VALUES FROM ('${from.toISOString()}') TO ('${to.toISOString()}')`,
      );
    }
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
  for (const [key] of toCreate) cache.add(key);
}

export async function listEventPartitions(db: Db): Promise<{ table: string; month: string }[]> {
  const { rows } = await db.pool.query<{ relname: string }>(
    `SELECT c.relname FROM pg_inherits i
       JOIN pg_class c ON c.oid = i.inhrelid
       JOIN pg_class p ON p.oid = i.inhparent
       JOIN pg_namespace n ON n.oid = p.relnamespace
      WHERE p.relname = 'events' AND n.nspname = current_schema()
      ORDER BY c.relname`,
  );
  return rows
    .map((r) => ({ table: r.relname, month: r.relname.replace(/^events_p/, "") }))
    .filter((p) => /^\d{4}_\d{2}$/.test(p.month));
}

/** Drops whole months older than `before` (retention); returns the dropped partitions. */
export async function dropEventPartitionsBefore(db: Db, before: Date): Promise<string[]> {
  const limit = monthKey(before);
  const dropped: string[] = [];
  for (const p of await listEventPartitions(db)) {
    if (p.month < limit) {
      await db.pool.query(`DROP TABLE IF EXISTS ${p.table}`);
      dropped.push(p.table);
    }
  }
  // the copies of those months' orders go with them (migration 012)
  if (dropped.length > 0)
    await db.pool.query("DELETE FROM order_facts WHERE occurred_at < $1", [
      new Date(Date.UTC(before.getUTCFullYear(), before.getUTCMonth(), 1)),
    ]);
  known.get(db)?.clear();
  return dropped;
}
