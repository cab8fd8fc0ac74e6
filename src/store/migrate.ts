// Applies the plain SQL migrations in src/store/migrations in name order, each once, under a lock so that
// several processes starting together apply them once.
import { readdirSync, readFileSync } from "node:fs";
import { MIGRATIONS_DIR } from "../paths.ts";
import type { Db } from "./db.ts";
import { ensureEventPartitions } from "./partitions.ts";

const LOCK_KEY = 7_274_001;

export async function migrate(db: Db, now: Date = new Date()): Promise<string[]> {
  const files = readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d{3}-[a-z0-9-]+\.sql$/.test(f))
    .sort();
  const applied: string[] = [];
  const client = await db.pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1)", [LOCK_KEY]);
    await client.query(
      "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    );
    const done = new Set(
      (await client.query<{ name: string }>("SELECT name FROM schema_migrations")).rows.map((r) => r.name),
    );
    for (const file of files) {
      if (done.has(file)) continue;
      await client.query(readFileSync(MIGRATIONS_DIR + file, "utf8"));
      await client.query("INSERT INTO schema_migrations (name) VALUES ($1)", [file]);
      applied.push(file);
    }
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
  // The current month, the previous one and three ahead always exist.
  const months: Date[] = [];
  for (let i = -1; i <= 3; i++)
    months.push(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + i, 1)));
  await ensureEventPartitions(db, months);
  return applied;
}
