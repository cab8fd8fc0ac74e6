// A database of one benchmark run on a PostgreSQL server: created (after dropping a leftover of the same name),
// migrated, and dropped again by `close`; or, on the embedded database, in a temporary directory removed again.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { type Db, openDb } from "../src/store/db.ts";
import { migrate } from "../src/store/migrate.ts";

export interface BenchDatabase {
  db: Db;
  /** closes the pool and drops the database */
  close(): Promise<void>;
}

/** Creates database `name` on the server of `serverUrl` and migrates it as of `now`. */
export async function benchDatabase(serverUrl: string, name: string, now?: Date): Promise<BenchDatabase> {
  await adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`, `CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const db = await openDb({ databaseUrl: url.toString() });
  await migrate(db, now);
  return {
    db,
    async close() {
      await db.close();
      await adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** A migrated database of one run on either backend: `name` names the PostgreSQL database or the directory. */
export async function benchBase(
  opts: { backend: "postgres" | "pglite"; databaseUrl?: string },
  name: string,
  now?: Date,
): Promise<BenchDatabase> {
  if (opts.backend === "postgres") {
    if (!opts.databaseUrl) throw new Error("the postgres backend needs a databaseUrl");
    return benchDatabase(opts.databaseUrl, name, now);
  }
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const db = await openDb({ dataDir: dir });
  await migrate(db, now);
  return {
    db,
    async close() {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function adminQuery(serverUrl: string, ...statements: string[]): Promise<void> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    for (const s of statements) await admin.query(s);
  } finally {
    await admin.end();
  }
}
