// Segments and stages benchmark on the online-school example: a synthetic base (full: 1,000,000 customers and
// ~20,000,000 events on PostgreSQL, 100,000 customers on PGlite) is loaded, the strategy applied (first compute,
// writing every membership), then
//   - a full recompute of every stage and segment (target ≤ 10 s at 1M customers on PostgreSQL), beside its limit:
//     one representative segment (python_browsers) counted by a hand-written SQL query;
//   - the real-time update after one event: events for random customers are ingested, then each customer's
//     memberships are brought up to date alone and timed (target p50 ≤ 2 ms, p99 ≤ 20 ms over 100,000 events).
// A full-scale PostgreSQL base is kept between runs (database tact_bench_memberships_1000000): loading 20M
// events takes minutes; the strategy's versions and memberships are reset each run.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { generate } from "../examples/online-school/generate.ts";
import { MembershipRefresher, refreshCustomers } from "../src/engine/membership-refresher.ts";
import { inlineTemplateFiles } from "../src/engine/render/template-files.ts";
import { strategyModels } from "../src/engine/strategy-cache.ts";
import { applyStrategy, membershipModelOf, recomputeWorkspace } from "../src/engine/strategy-runtime.ts";
import { ingestMessages } from "../src/ingest/ingest.ts";
import { loadSynthetic } from "../src/store/bulk-load.ts";
import { type Db, openDb, withTransaction } from "../src/store/db.ts";
import { migrate } from "../src/store/migrate.ts";
import { createWorkspace, listWorkspaces, type Workspace } from "../src/store/workspaces.ts";
import { loadStrategy } from "../src/strategy/load.ts";
import type { BenchFigure } from "./figure.ts";

export interface RunOptions {
  scale: "small" | "full";
  backend: "postgres" | "pglite";
  databaseUrl?: string;
}

const STRATEGY = fileURLToPath(new URL("../examples/online-school/strategy.yaml", import.meta.url));
const NOW = new Date("2026-11-01T12:00:00Z");
const SIZES = {
  postgres: { full: { customers: 1_000_000, stream: 100_000 }, small: { customers: 20_000, stream: 5_000 } },
  pglite: { full: { customers: 100_000, stream: 20_000 }, small: { customers: 10_000, stream: 2_000 } },
} as const;

const log = (msg: string) => process.stderr.write(`[memberships] ${msg}\n`);
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

export async function run(opts: RunOptions): Promise<BenchFigure[]> {
  // BENCH_MEMBERSHIPS_STREAM=N streams N events instead (0: only the recompute figures)
  const streamEnv = process.env.BENCH_MEMBERSHIPS_STREAM;
  const size = {
    ...SIZES[opts.backend][opts.scale],
    ...(streamEnv !== undefined ? { stream: Number(streamEnv) } : {}),
  };
  const target = await openBase(opts, size.customers);
  try {
    const { db, ws } = target;
    const base = {
      bench: "memberships",
      backend: opts.backend,
      scale: opts.scale,
      customers: size.customers,
    };
    const events = Number((await db.pool.query("SELECT count(*) AS n FROM events")).rows[0]?.n);
    const inlined = inlineTemplateFiles(readFileSync(STRATEGY, "utf8"), STRATEGY);
    const source = inlined.source;

    const t0 = performance.now();
    const applied = await applyStrategy(db, ws.id, source, STRATEGY, "bench", NOW);
    if (!applied.ok)
      throw new Error(`the example strategy does not load: ${applied.diagnostics[0]?.message}`);
    const applySeconds = (performance.now() - t0) / 1000;
    log(`applied in ${applySeconds.toFixed(2)} s: ${JSON.stringify(applied.recompute)}`);
    await db.pool.query("VACUUM ANALYZE memberships");
    await db.pool.query("VACUUM ANALYZE membership_due");

    const t1 = performance.now();
    const again = await recomputeWorkspace(db, ws.id, NOW);
    const recomputeSeconds = (performance.now() - t1) / 1000;
    log(`full recompute in ${recomputeSeconds.toFixed(2)} s: ${JSON.stringify(again)}`);

    const limitSeconds = await handWrittenSegment(db, ws.id);
    log(`hand-written python_browsers query ${limitSeconds.toFixed(2)} s`);

    const realtime = size.stream > 0 ? await realtimeStream(db, ws, size.stream) : null;
    if (realtime) log(`real-time: p50 ${realtime.p50.toFixed(2)} ms, p99 ${realtime.p99.toFixed(2)} ms`);

    const withSize = { ...base, events };
    const fullTarget = opts.backend === "postgres" && opts.scale === "full" ? { target: 10 } : {};
    return [
      {
        ...withSize,
        metric: "apply_seconds",
        value: round(applySeconds),
        unit: "s",
        note: "new version: first compute, every membership written",
      },
      {
        ...withSize,
        metric: "full_recompute_seconds",
        value: round(recomputeSeconds),
        unit: "s",
        ...fullTarget,
      },
      {
        ...withSize,
        metric: "hand_written_segment_seconds",
        value: round(limitSeconds),
        unit: "s",
        note: "the limit: python_browsers by one hand-written SQL query",
      },
      ...(realtime ? realtimeFigures(withSize, realtime, size.stream, opts.scale) : []),
    ];
  } finally {
    await target.close();
  }
}

function realtimeFigures(
  withSize: Record<string, unknown> & { bench: string; backend: string },
  realtime: { p50: number; p99: number; batchedMs: number },
  stream: number,
  scale: string,
): BenchFigure[] {
  return [
    {
      ...withSize,
      metric: "realtime_update_p50_ms",
      value: round(realtime.p50, 3),
      unit: "ms",
      events_streamed: stream,
      ...(scale === "full" ? { target: 2 } : {}),
    },
    {
      ...withSize,
      metric: "realtime_update_p99_ms",
      value: round(realtime.p99, 3),
      unit: "ms",
      events_streamed: stream,
      ...(scale === "full" ? { target: 20 } : {}),
    },
    {
      ...withSize,
      metric: "realtime_batched_per_event_ms",
      value: round(realtime.batchedMs, 3),
      unit: "ms",
      note: "the refresher's batched rounds, per customer",
    },
  ];
}

async function handWrittenSegment(db: Db, workspaceId: number): Promise<number> {
  const t = performance.now();
  await db.pool.query(
    `SELECT count(*) FROM (SELECT customer_id FROM events
      WHERE workspace_id = $1 AND type = 'page' AND occurred_at > $2 AND properties->>'section' = 'python'
      GROUP BY customer_id HAVING count(*) >= 3) s`,
    [workspaceId, new Date(NOW.getTime() - 30 * 86_400_000)],
  );
  return (performance.now() - t) / 1000;
}

/** Ingests events for random customers, 100 at a time, then updates each customer alone, timed. */
async function realtimeStream(
  db: Db,
  ws: Workspace,
  n: number,
): Promise<{ p50: number; p99: number; batchedMs: number }> {
  const loaded = loadStrategy(inlineTemplateFiles(readFileSync(STRATEGY, "utf8"), STRATEGY).source, STRATEGY);
  if (!loaded.ok) throw new Error("the example strategy does not load");
  const model = membershipModelOf(loaded.strategy, 0);
  const users = (
    await db.pool.query<{ value: string }>(
      "SELECT value FROM identities WHERE workspace_id = $1 AND kind = 'user' ORDER BY md5(value) LIMIT $2",
      [ws.id, n],
    )
  ).rows.map((r) => r.value);
  const times: number[] = [];
  let at = NOW.getTime();
  for (let i = 0; i < n; i += 100) {
    at += 1000;
    const now = new Date(at);
    const batch = users.slice(i, i + 100).map((userId, j) => message(userId, i + j, now));
    await ingestMessages(db, ws, batch, { receivedAt: now });
    for (const userId of users.slice(i, i + 100)) {
      const t = performance.now();
      await withTransaction(db, async (client) => {
        const { rows } = await client.query<{ customer_id: string; changes: string[] }>(
          `SELECT d.customer_id, d.changes FROM membership_due d JOIN identities i
              ON i.workspace_id = d.workspace_id AND i.customer_id = d.customer_id
            WHERE i.workspace_id = $1 AND i.kind = 'user' AND i.value = $2 FOR UPDATE OF d`,
          [ws.id, userId],
        );
        const due = rows.map((r) => ({ workspaceId: ws.id, customerId: r.customer_id, changes: r.changes }));
        if (due.length > 0) await refreshCustomers(client, ws.id, model, due, now);
      });
      times.push(performance.now() - t);
    }
    if (i % 10_000 === 0) log(`real-time: ${i + 100} of ${n}`);
  }
  // The same kind of work done the way the server does it: batched rounds of the refresher.
  const more = users.slice(0, Math.min(n, 10_000));
  at += 1000;
  const now = new Date(at);
  await ingestMessages(
    db,
    ws,
    more.map((u, j) => message(u, n + j, now)),
    { receivedAt: now },
  );
  const refresher = new MembershipRefresher(db, strategyModels(), { now: () => now });
  const t = performance.now();
  const processed = await refresher.runOnce(now);
  const batchedMs = (performance.now() - t) / Math.max(1, processed);
  times.sort((a, b) => a - b);
  const pct = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))] ?? Number.NaN;
  return { p50: pct(0.5), p99: pct(0.99), batchedMs };
}

const RUN = Date.now().toString(36);

function message(userId: string, i: number, now: Date): object {
  const kind = i % 10;
  const timestamp = now.toISOString();
  const messageId = `bench-${RUN}-${i}`;
  if (kind < 2)
    return {
      type: "track",
      messageId,
      userId,
      event: "order_completed",
      timestamp,
      properties: { revenue: 4900, product_id: "python-for-analysts" },
    };
  if (kind < 8)
    return {
      type: "page",
      messageId,
      userId,
      timestamp,
      properties: { section: kind < 5 ? "python" : "data-engineering" },
    };
  return { type: "identify", messageId, userId, timestamp, traits: { source: "telegram_bot" } };
}

interface Base {
  db: Db;
  ws: Workspace;
  close(): Promise<void>;
}

async function openBase(opts: RunOptions, customers: number): Promise<Base> {
  if (opts.backend === "pglite") {
    const dir = mkdtempSync(join(tmpdir(), "tact-bench-memberships-"));
    const db = await openDb({ dataDir: dir });
    await migrate(db, NOW);
    const ws = await load(db, customers);
    return {
      db,
      ws,
      close: async () => {
        await db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  if (!opts.databaseUrl) throw new Error("the postgres backend needs a databaseUrl");
  const keep = opts.scale === "full";
  const name = keep ? `tact_bench_memberships_${customers}` : `tact_bench_memberships_${process.pid}`;
  const admin = new pg.Client({ connectionString: opts.databaseUrl });
  await admin.connect();
  const exists = (await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rowCount === 1;
  if (!exists) await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(opts.databaseUrl);
  url.pathname = `/${name}`;
  const db = await openDb({ databaseUrl: url.toString() });
  await migrate(db, NOW);
  const existing = (await listWorkspaces(db)).find((w) => w.name === "school");
  let ws: Workspace;
  if (existing && exists) {
    log(`reusing the base in database ${name}`);
    ws = existing;
    // Each run starts from the loaded base: no strategy, no memberships, no events of earlier runs' streams.
    await db.pool.query("TRUNCATE strategy_versions, memberships, membership_due");
    await db.pool.query("DELETE FROM events WHERE message_id LIKE 'tact:%' OR message_id LIKE 'bench-%'");
  } else {
    ws = await load(db, customers);
  }
  return {
    db,
    ws,
    async close() {
      await db.close();
      if (keep) return;
      const a = new pg.Client({ connectionString: opts.databaseUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

async function load(db: Db, customers: number): Promise<Workspace> {
  const ws = await createWorkspace(db, "school");
  const t = performance.now();
  const counts = await loadSynthetic(db, ws.id, generate({ customers, seed: 42, now: NOW }), (c) => {
    if (c.customers % 100_000 < 2_000) log(`loaded ${c.customers} customers, ${c.events} events`);
  });
  log(
    `loaded ${counts.customers} customers and ${counts.events} events in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  return ws;
}
