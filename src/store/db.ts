// Opens the database: embedded PGlite in a data folder by default, a PostgreSQL server when a URL is given.
// Both are reached through a node-postgres Pool, so every query is the same SQL on both backends.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { PGlite } from "@electric-sql/pglite";
import { createPgConfig } from "@electric-sql/pglite/node-postgres";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import type { Database } from "./schema.ts";

// bigint (int8) as string; numeric as string; timestamps as Date (node-postgres defaults).
pg.types.setTypeParser(20, (v) => v);

export type Backend = "pglite" | "postgres";

export interface Db {
  readonly backend: Backend;
  readonly kysely: Kysely<Database>;
  readonly pool: pg.Pool;
  /**
   * Where reports send their queries: each is planned for its parameters' values (a custom plan), whatever the
   * sessions' setting for prepared statements.
   */
  readonly reports: Queryable;
  /**
   * Runs `COPY table (columns) FROM STDIN` (text format) with the data in `chunks`, in one transaction. Each
   * chunk must end at the end of a row: the embedded database copies chunk by chunk.
   */
  copyIn(statement: string, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void>;
  close(): Promise<void>;
}

type CopyIn = Db["copyIn"];

export interface OpenOptions {
  databaseUrl?: string | undefined;
  /** folder for PGlite; "memory://" keeps it in memory (tests) */
  dataDir?: string;
  poolSize?: number;
}

// Every session's settings:
//   - statements keep one generic plan: for the named ones (the per-customer reads of the real-time path) a custom
//     plan of a query over the monthly event partitions costs more to make than to run, and the generic plan
//     still prunes the months at run time. The setting reaches unnamed statements with parameters too, so reports,
//     whose queries read a share of the base that only the values tell, plan theirs with the values
//     (`Db.reports`);
//   - no JIT compilation: no query of Tact runs long enough to repay it, and a report's queries, whose cost
//     estimates pass the threshold, spent about a second each compiling (the metrics tree at 1M customers: 12 s
//     with it, 8.8 s without).
//
// Kept plans: a named statement's plan is made at its first run on a session and kept until the statistics of a
// table it reads change (store/statistics.ts analyses them as they grow). The engine's writes by key into tables
// that churn (messages, scenario_entries: every row updated several times) and its reads of customers' sent
// history are unnamed instead, planned at each run: kept, a plan made while `messages` held a few thousand rows
// went on scanning the whole table, dead rows included, for every batch.
const SESSION_OPTIONS = "-c plan_cache_mode=force_generic_plan -c jit=off";

/**
 * The URL with the session's settings before any `options` it carries (node-postgres keeps a URL's `options`
 * alone); a connection string that is no URL gets them from the pool's `options`.
 */
export function withSessionOptions(databaseUrl: string): string {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    return databaseUrl;
  }
  const own = url.searchParams.get("options");
  url.searchParams.set("options", own ? `${SESSION_OPTIONS} ${own}` : SESSION_OPTIONS);
  return url.toString();
}

export async function openDb(opts: OpenOptions): Promise<Db> {
  if (opts.databaseUrl) {
    const pool = new pg.Pool({
      connectionString: withSessionOptions(opts.databaseUrl),
      max: opts.poolSize ?? 10,
      options: SESSION_OPTIONS,
    });
    pool.on("error", () => {
      // an idle client lost its connection; the pool replaces it on next use
    });
    await pool.query("SELECT 1");
    return makeDb("postgres", pool, serverCopyIn(pool), async () => undefined);
  }
  const dataDir = opts.dataDir ?? ".tact";
  const inMemory = dataDir.startsWith("memory://");
  let releaseLock = () => {};
  if (!inMemory) {
    mkdirSync(dataDir, { recursive: true });
    releaseLock = lockDataDir(dataDir);
  }
  let pglite: PGlite;
  try {
    pglite = new PGlite(inMemory ? dataDir : join(dataDir, "pgdata"));
    await pglite.waitReady;
  } catch (err) {
    releaseLock();
    throw err;
  }
  const pool = keepClientOnError(new pg.Pool(createPgConfig(pglite) as unknown as pg.PoolConfig));
  return makeDb("pglite", pool, embeddedCopyIn(pool, pglite), async () => {
    await pglite.close();
    releaseLock();
  });
}

/**
 * `pool.query` on the embedded database keeps its client after an error. pg-pool ends the connection of a query
 * that failed, and the embedded database's adapter cannot open another one after that: the next query failed
 * ("Connection terminated unexpectedly") and the one after it took the process down. An error answer leaves the
 * session as it was (outside a transaction), so the client is kept.
 */
function keepClientOnError(pool: pg.Pool): pg.Pool {
  const query = async (...args: Parameters<pg.PoolClient["query"]>) => {
    const client = await pool.connect();
    try {
      return await (client.query as (...a: typeof args) => Promise<unknown>)(...args);
    } finally {
      client.release();
    }
  };
  pool.query = query as unknown as pg.Pool["query"];
  return pool;
}

/** Anything that runs a query with text and values: a pool, a client, `Db.reports`. */
export type Queryable = Pick<pg.PoolClient, "query">;

/**
 * On a server, each report query runs in a transaction of its own with `plan_cache_mode = force_custom_plan`.
 * Planned without its values, a month's 472,000 scenario entries were estimated at 6,600 rows and the metrics tree
 * probed an index once per entry. The embedded database has no such session setting: its pool serves as it is.
 */
function customPlans(db: Db): Queryable {
  const query = (text: string, values?: unknown[]) =>
    withTransaction(db, async (c) => {
      await c.query("SET LOCAL plan_cache_mode = force_custom_plan");
      return c.query(text, values);
    });
  return { query } as unknown as Queryable;
}

function makeDb(backend: Backend, pool: pg.Pool, copyIn: CopyIn, closeBackend: () => Promise<void>): Db {
  const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  let closed = false;
  const db: Db = {
    backend,
    kysely,
    pool,
    reports: pool,
    copyIn,
    async close() {
      if (closed) return;
      closed = true;
      await kysely.destroy();
      await closeBackend();
    },
  };
  return backend === "postgres" ? { ...db, reports: customPlans(db) } : db;
}

function serverCopyIn(pool: pg.Pool): CopyIn {
  return async (statement, chunks) => {
    const client = await pool.connect();
    try {
      await pipeline(Readable.from(chunks, { objectMode: false }), client.query(copyFrom(statement)));
    } catch (err) {
      client.release(true); // the connection's state after a failed COPY is not worth trusting
      throw err;
    }
    client.release();
  };
}

/**
 * PGlite reads COPY data from a blob, one statement per chunk; holding the pool's only client keeps other
 * queries out of the transaction that makes the chunks one COPY.
 */
function embeddedCopyIn(pool: pg.Pool, pglite: PGlite): CopyIn {
  return async (statement, chunks) => {
    const fromBlob = statement.replace(/\s+FROM\s+STDIN\s*$/i, " FROM '/dev/blob'");
    if (fromBlob === statement) throw new Error("copyIn expects a COPY ... FROM STDIN statement");
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      for await (const chunk of chunks) {
        await pglite.query(fromBlob, [], { blob: new Blob([chunk as Uint8Array<ArrayBuffer>]) });
      }
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  };
}

/** PGlite is one process's database: a second process opening the folder would corrupt it. */
function lockDataDir(dataDir: string): () => void {
  const lockPath = join(dataDir, "tact.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, "wx");
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lockPath, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = Number(readFileSync(lockPath, "utf8"));
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new Error(
          `the data folder ${dataDir} is in use by process ${pid}; the embedded database serves one process ` +
            "at a time (stop it, use the admin API, or set DATABASE_URL to share a PostgreSQL server)",
        );
      }
      if (existsSync(lockPath)) rmSync(lockPath, { force: true }); // stale lock of a dead process
    }
  }
  throw new Error(`cannot lock the data folder ${dataDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

const RETRYABLE = new Set(["40P01", "40001", "23505"]);

/** Thrown inside a transaction when a concurrent one changed what it read; the transaction is retried. */
export class StaleReadError extends Error {}

/** Deadlock, serialization failure, a unique-key race or a stale read: running the transaction again may succeed. */
function isRetryable(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return err instanceof StaleReadError || (code !== undefined && RETRYABLE.has(code));
}

/**
 * Runs fn in a transaction on one client, retrying (up to 10 times) when isRetryable, with a random backoff that
 * grows with the attempts.
 */
export async function withTransaction<T>(db: Db, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await db.pool.connect();
    try {
      await client.query("BEGIN");
      const result = await fn(client);
      await client.query("COMMIT");
      client.release();
      return result;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      client.release();
      if (!isRetryable(err) || attempt >= 10) throw err;
      await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt));
    }
  }
}
