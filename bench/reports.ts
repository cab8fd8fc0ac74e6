// The NPS and attribution reports on a synthetic base (full: 1,000,000 customers and ~20,000,000 events on
// PostgreSQL, 100,000 customers on PGlite; small: 20,000 / 10,000): per customer 14 page views, two email opens,
// an email click and an SMS delivery over 90 days, an order for 60% of them (2% refunded) and an NPS answer for 10%.
// Figures: the attribution report over the last 30 days (last touch and linear) and the NPS report by week over
// 90 days, each beside its limit — one plain scan counting the same events the report reads.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { attributionReport } from "../src/measure/attribution-report.ts";
import { npsReport } from "../src/measure/nps-report.ts";
import { type Db, openDb } from "../src/store/db.ts";
import { migrate } from "../src/store/migrate.ts";
import { ensureEventPartitions } from "../src/store/partitions.ts";
import { createWorkspace } from "../src/store/workspaces.ts";
import type { BenchFigure } from "./figure.ts";

export interface RunOptions {
  scale: "small" | "full";
  backend: "postgres" | "pglite";
  databaseUrl?: string;
}

const NOW = new Date("2026-11-01T12:00:00Z");
const DAY = 86_400_000;
const SIZES = {
  postgres: { full: 1_000_000, small: 20_000 },
  pglite: { full: 100_000, small: 10_000 },
} as const;

const log = (msg: string) => process.stderr.write(`[reports] ${msg}\n`);
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

async function seconds<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const r = await fn();
  return [(performance.now() - t) / 1000, r];
}

/** Events of every customer, made set-wise: one INSERT … SELECT per kind. */
async function load(db: Db, ws: number, customers: number): Promise<number> {
  const months = Array.from({ length: 5 }, (_, i) => new Date(NOW.getTime() - i * 30 * DAY));
  await ensureEventPartitions(db, months);
  await db.pool.query(
    `INSERT INTO customers (workspace_id, customer_id) SELECT $1, nextval('customer_id_seq') FROM generate_series(1, $2)`,
    [ws, customers],
  );
  const insert = (sql: string) =>
    db.pool.query(
      `INSERT INTO events (workspace_id, customer_id, message_id, type, name, occurred_at, received_at, properties)
       SELECT $1, c.customer_id, x.message_id, x.type, x.name, x.at, x.at, x.properties
         FROM customers c, LATERAL (${sql}) x(message_id, type, name, at, properties) WHERE c.workspace_id = $1`,
      [ws, NOW],
    );
  const at = (spread: string) => `$2::timestamptz - (${spread}) * interval '1 day'`;
  // random() per row: ((customer_id * k + i) % 997) / 997 keeps the load reproducible
  const r = (k: number, i = "0") => `(((c.customer_id * ${k} + ${i}) % 997) / 997.0)`;
  await insert(`SELECT 'p' || c.customer_id || '_' || i AS message_id, 'page' AS type, NULL AS name,
                       ${at(`90 * ${r(31, "i")}`)} AS at, '{}'::jsonb AS properties
                  FROM generate_series(1, 14) i`);
  const touch = (name: string, channel: string, n: number, k: number) =>
    insert(`SELECT '${name}' || c.customer_id || '_' || i, 'track', '${name}', ${at(`90 * ${r(k, "i")}`)},
                   jsonb_build_object('message_id', (c.customer_id * 4 + i)::text, 'channel', '${channel}',
                     'scenario', 's' || (c.customer_id % 7), 'step_id', (i % 3)::text, 'template', 't' || (c.customer_id % 11))
              FROM generate_series(1, ${n}) i`);
  await touch("message_opened", "email", 2, 37);
  await touch("message_clicked", "email", 1, 41);
  await touch("message_delivered", "sms", 1, 43);
  await insert(`SELECT 'o' || c.customer_id, 'track', 'order_completed', ${at(`90 * ${r(47)}`)},
                       jsonb_build_object('revenue', 10 + (c.customer_id % 190), 'order_id', 'o' || c.customer_id)
                 WHERE c.customer_id % 10 < 6`);
  await insert(`SELECT 'r' || c.customer_id, 'track', 'order_refunded', ${at(`90 * ${r(47)} - 1`)},
                       jsonb_build_object('revenue', 10 + (c.customer_id % 190), 'order_id', 'o' || c.customer_id)
                 WHERE c.customer_id % 50 = 0`);
  await insert(`SELECT 'n' || c.customer_id, 'track', 'nps_response', ${at(`90 * ${r(53)}`)},
                       jsonb_build_object('score', c.customer_id % 11, 'scenario', 's' || (c.customer_id % 7))
                 WHERE c.customer_id % 10 = 3`);
  await db.pool.query("ANALYZE events");
  await db.pool.query("ANALYZE customers");
  const { rows } = await db.pool.query<{ n: string }>(
    "SELECT count(*) AS n FROM events WHERE workspace_id = $1",
    [ws],
  );
  return Number(rows[0]?.n ?? 0);
}

export async function run(opts: RunOptions): Promise<BenchFigure[]> {
  const customers = SIZES[opts.backend][opts.scale];
  let db: Db;
  let cleanup: () => Promise<void>;
  if (opts.backend === "pglite") {
    const dir = mkdtempSync(join(tmpdir(), "tact-bench-reports-"));
    db = await openDb({ dataDir: dir });
    cleanup = async () => {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    };
  } else {
    const name = `tact_bench_reports_${process.pid}`;
    const admin = new pg.Client({ connectionString: opts.databaseUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(opts.databaseUrl ?? "");
    url.pathname = `/${name}`;
    db = await openDb({ databaseUrl: url.toString() });
    cleanup = async () => {
      await db.close();
      const a = new pg.Client({ connectionString: opts.databaseUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    };
  }
  try {
    await migrate(db, NOW);
    const ws = await createWorkspace(db, "bench");
    const [loadSeconds, events] = await seconds(() => load(db, ws.id, customers));
    log(`${customers} customers, ${events} events loaded in ${loadSeconds.toFixed(1)} s`);
    const period = { from: new Date(NOW.getTime() - 30 * DAY), to: NOW };
    const [lastSeconds, last] = await seconds(() => attributionReport(db, ws.id, period));
    const [linearSeconds] = await seconds(() => attributionReport(db, ws.id, { ...period, model: "linear" }));
    log(`attribution: ${last.conversions.count} conversions, last touch ${lastSeconds.toFixed(2)} s`);
    const [scanSeconds] = await seconds(() =>
      db.pool.query(
        `SELECT count(*), sum((properties ->> 'revenue')::numeric) FROM events
          WHERE workspace_id = $1 AND type = 'track' AND occurred_at >= $2 AND occurred_at < $3
            AND name IN ('order_completed', 'order_refunded', 'message_opened', 'message_clicked', 'message_delivered')`,
        [ws.id, new Date(period.from.getTime() - 5 * DAY), period.to],
      ),
    );
    const npsPeriod = { from: new Date(NOW.getTime() - 90 * DAY), to: NOW };
    const [npsSeconds, nps] = await seconds(() => npsReport(db, ws.id, { ...npsPeriod, by: "week" }));
    const [npsScanSeconds] = await seconds(() =>
      db.pool.query(
        `SELECT count(*) FROM events WHERE workspace_id = $1 AND type = 'track' AND name = 'nps_response'
            AND occurred_at >= $2 AND occurred_at < $3`,
        [ws.id, npsPeriod.from, npsPeriod.to],
      ),
    );
    log(`nps: ${nps.overall.responses} answers by week in ${npsSeconds.toFixed(2)} s`);
    const base = { bench: "reports", backend: opts.backend, scale: opts.scale, customers, events };
    return [
      {
        ...base,
        metric: "attribution_last_touch_seconds",
        value: round(lastSeconds),
        unit: "s",
        conversions: last.conversions.count,
      },
      { ...base, metric: "attribution_linear_seconds", value: round(linearSeconds), unit: "s" },
      { ...base, metric: "attribution_scan_limit_seconds", value: round(scanSeconds), unit: "s" },
      {
        ...base,
        metric: "nps_by_week_seconds",
        value: round(npsSeconds),
        unit: "s",
        responses: nps.overall.responses,
      },
      { ...base, metric: "nps_scan_limit_seconds", value: round(npsScanSeconds), unit: "s" },
    ];
  } finally {
    await cleanup();
  }
}
