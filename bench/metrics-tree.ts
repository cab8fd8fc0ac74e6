// Metrics tree benchmark on the online-school example: the whole tree (revenue, channels, scenarios, base, stages,
// goals) over the last 30 days and over a year, beside its limit: one count of the period's events, the least a
// report over them can read.
//   - full (PostgreSQL): the base bench/memberships.ts keeps in database tact_bench_memberships_1000000 (1,000,000
//     customers, ~20,000,000 events), given the same synthetic messages as the small base the first time it is
//     read, then opened read-only (every transaction of the session is read-only); target ≤ 5 s. Run
//     `BENCH_ONLY=memberships BENCH_SCALE=full npm run bench` first to build it.
//   - small: a fresh base of 20,000 customers (PostgreSQL) or 10,000 (PGlite), the strategy applied, and
//     synthetic messages and scenario entries (three messages and entries per customer with an email, and their
//     interactions) so the channel, scenario and attribution figures have rows to count.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { generate } from "../examples/online-school/generate.ts";
import { inlineTemplateFiles } from "../src/engine/render/template-files.ts";
import { applyStrategy } from "../src/engine/strategy-runtime.ts";
import { type MetricsTree, metricsTree } from "../src/measure/metrics-tree.ts";
import { gatherEffects } from "../src/measure/metrics-tree-effects.ts";
import { loadSynthetic } from "../src/store/bulk-load.ts";
import { type Db, openDb } from "../src/store/db.ts";
import { migrate } from "../src/store/migrate.ts";
import { createWorkspace, listWorkspaces } from "../src/store/workspaces.ts";
import { loadStrategy } from "../src/strategy/load.ts";
import type { BenchFigure } from "./figure.ts";

export interface RunOptions {
  scale: "small" | "full";
  backend: "postgres" | "pglite";
  databaseUrl?: string;
}

const STRATEGY = fileURLToPath(new URL("../examples/online-school/strategy.yaml", import.meta.url));
// the moment bench/memberships.ts generates its base at: its events end here
const NOW = new Date("2026-11-01T12:00:00Z");
// periods end an hour after it: the strategy is applied at NOW, so its stages are in the period's end state
const END = new Date(NOW.getTime() + 3_600_000);
const DAY = 86_400_000;
const FULL_BASE = "tact_bench_memberships_1000000";
const MIGRATIONS = fileURLToPath(new URL("../src/store/migrations/", import.meta.url));
const SMALL = { postgres: 20_000, pglite: 10_000 } as const;

const log = (msg: string) => process.stderr.write(`[metrics-tree] ${msg}\n`);
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

interface Base {
  db: Db;
  workspaceId: number;
  customers: number;
  close(): Promise<void>;
}

export async function run(opts: RunOptions): Promise<BenchFigure[]> {
  const source = inlineTemplateFiles(readFileSync(STRATEGY, "utf8"), STRATEGY).source;
  const loaded = loadStrategy(source, STRATEGY);
  if (!loaded.ok) throw new Error(`the example strategy does not load: ${loaded.diagnostics[0]?.message}`);
  const base = opts.scale === "full" ? await openFullBase(opts) : await buildSmallBase(opts, source);
  try {
    const { db, workspaceId } = base;
    const events = Number((await db.pool.query("SELECT count(*) AS n FROM events")).rows[0]?.n);
    const messages = Number((await db.pool.query("SELECT count(*) AS n FROM messages")).rows[0]?.n);
    const common = {
      bench: "metrics-tree",
      backend: opts.backend,
      scale: opts.scale,
      customers: base.customers,
      events,
      messages,
    };
    const strategy = { strategy: loaded.strategy, version: null };
    const figures: BenchFigure[] = [];
    for (const days of [30, 365]) {
      const from = new Date(END.getTime() - days * DAY);
      // the first run reads the period cold; the figure is the better of two
      const times: number[] = [];
      let tree: MetricsTree | undefined;
      for (let i = 0; i < 2; i++) {
        const t = performance.now();
        tree = await metricsTree(db, workspaceId, { from, to: END, now: END, strategy });
        times.push((performance.now() - t) / 1000);
      }
      // the part other reports compute (effects against control, attribution, NPS), timed alone
      const te = performance.now();
      await gatherEffects(db, workspaceId, { from, to: END });
      const effectSeconds = (performance.now() - te) / 1000;
      const t = performance.now();
      const scanned = await db.pool.query<{ n: string }>(
        "SELECT count(*) AS n FROM events WHERE workspace_id = $1 AND occurred_at >= $2 AND occurred_at < $3",
        [workspaceId, from, END],
      );
      const limit = (performance.now() - t) / 1000;
      const periodEvents = Number(scanned.rows[0]?.n ?? 0);
      log(
        `${days} days: ${times.map((x) => x.toFixed(2)).join(" s, ")} s; revenue ${tree?.revenue.revenue}, ` +
          `${tree?.revenue.activeCustomers} active, ${tree?.base.size} customers, ${tree?.base.stages.reduce((a, x) => a + x.atEnd, 0)} with a stage, ${tree?.base.flows.reduce((a, f) => a + f.moves, 0)} moves; ` +
          `effect reports alone ${effectSeconds.toFixed(2)} s; counting the period's ${periodEvents} events ${limit.toFixed(2)} s`,
      );
      figures.push(
        {
          ...common,
          metric: `metrics_tree_${days}d_seconds`,
          value: round(Math.min(...times)),
          unit: "s",
          period_events: periodEvents,
          ...(opts.scale === "full" && opts.backend === "postgres" ? { target: 5 } : {}),
        },
        {
          ...common,
          metric: `effect_reports_${days}d_seconds`,
          value: round(effectSeconds),
          unit: "s",
          note: "of the tree: scenario effects, attribution and NPS, run alone",
        },
        {
          ...common,
          metric: `period_events_count_${days}d_seconds`,
          value: round(limit),
          unit: "s",
          note: "the limit: one count(*) of the period's events",
        },
      );
    }
    return figures;
  } finally {
    await base.close();
  }
}

/** The 1M-customer base of bench/memberships.ts, read-only: not migrated, every transaction read-only. */
async function openFullBase(opts: RunOptions): Promise<Base> {
  if (opts.backend !== "postgres") throw new Error("the full-scale metrics tree runs on PostgreSQL only");
  if (!opts.databaseUrl) throw new Error("the postgres backend needs a databaseUrl");
  const url = new URL(opts.databaseUrl);
  url.pathname = `/${FULL_BASE}`;
  await addMessagesOnce(url.toString());
  url.searchParams.set("options", "-c default_transaction_read_only=on");
  const db = await openDb({ databaseUrl: url.toString() });
  try {
    // not migrated here (read-only): a base built before a newer migration must be brought up by its own bench
    const done = new Set(
      (await db.pool.query<{ name: string }>("SELECT name FROM schema_migrations")).rows.map((r) => r.name),
    );
    const missing = readdirSync(MIGRATIONS)
      .filter((f) => /^\d{3}-[a-z0-9-]+\.sql$/.test(f) && !done.has(f))
      .sort();
    if (missing.length > 0) throw new Error(`${FULL_BASE} lacks migrations ${missing.join(", ")}`);
    const ws = (await listWorkspaces(db)).find((w) => w.name === "school");
    if (!ws) throw new Error(`no workspace 'school' in ${FULL_BASE}`);
    const customers = Number(
      (await db.pool.query("SELECT count(*) AS n FROM customers WHERE workspace_id = $1", [ws.id])).rows[0]
        ?.n,
    );
    log(`reading the base in database ${FULL_BASE} (read-only): ${customers} customers`);
    return { db, workspaceId: ws.id, customers, close: () => db.close() };
  } catch (err) {
    await db.close();
    throw new Error(
      `${(err as Error).message}: build or migrate the base first with BENCH_ONLY=memberships BENCH_SCALE=full npm run bench`,
    );
  }
}

/**
 * The full base gets this benchmark's scenario entries, messages and their interactions once, the first time it
 * is read (the memberships benchmark leaves them alone); every later run reads it without a change.
 */
async function addMessagesOnce(databaseUrl: string): Promise<void> {
  const db = await openDb({ databaseUrl });
  try {
    const ws = (await listWorkspaces(db)).find((w) => w.name === "school");
    if (!ws) return; // reported by the caller
    const has = await db.pool.query(
      "SELECT 1 FROM messages WHERE workspace_id = $1 AND template = 'bench' LIMIT 1",
      [ws.id],
    );
    if (has.rowCount) return;
    const t = performance.now();
    await addMessages(db, ws.id);
    // as autovacuum leaves a production server (this machine's runs without it): statistics and the visibility
    // map, which index-only scans read
    await db.pool.query("VACUUM (ANALYZE) scenario_entries, messages, events, order_facts");
    log(
      `added scenario entries, messages and their interactions in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
  } finally {
    await db.close();
  }
}

async function buildSmallBase(opts: RunOptions, source: string): Promise<Base> {
  const customers = SMALL[opts.backend];
  let db: Db;
  let drop: () => Promise<void>;
  if (opts.backend === "pglite") {
    const dir = mkdtempSync(join(tmpdir(), "tact-bench-metrics-tree-"));
    db = await openDb({ dataDir: dir });
    drop = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    if (!opts.databaseUrl) throw new Error("the postgres backend needs a databaseUrl");
    const name = `tact_bench_metrics_tree_${process.pid}`;
    const admin = new pg.Client({ connectionString: opts.databaseUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(opts.databaseUrl);
    url.pathname = `/${name}`;
    db = await openDb({ databaseUrl: url.toString() });
    drop = async () => {
      const a = new pg.Client({ connectionString: opts.databaseUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    };
  }
  await migrate(db, NOW);
  const ws = await createWorkspace(db, "school");
  const counts = await loadSynthetic(db, ws.id, generate({ customers, seed: 42, now: NOW }), () => undefined);
  log(`loaded ${counts.customers} customers and ${counts.events} events`);
  const applied = await applyStrategy(db, ws.id, source, STRATEGY, "bench", NOW);
  if (!applied.ok) throw new Error("the example strategy does not apply");
  await addMessages(db, ws.id);
  await db.pool.query("ANALYZE");
  return {
    db,
    workspaceId: ws.id,
    customers,
    close: async () => {
      await db.close();
      await drop();
    },
  };
}

/**
 * Three scenario entries per customer with an email, spread over the last 90 days (welcome and python_interest
 * with an email, lapsed_win_back with an SMS), 5% of them in the scenario's control arm (no message); the
 * messages' fates by a hash: 4% bounced, 21% sent, 40% delivered, 25% opened, 5% clicked; and the delivery,
 * open and click events those fates imply.
 */
async function addMessages(db: Db, workspaceId: number): Promise<void> {
  await db.pool.query(
    `WITH s AS (
       SELECT c.customer_id, g, (ARRAY['welcome', 'python_interest', 'lapsed_win_back'])[g] AS scenario,
              abs(hashtext(c.customer_id::text || ':' || g)) % 100 AS h,
              $2::timestamptz - (abs(hashtext(c.customer_id::text || '/' || g)) % 90) * interval '1 day' AS at
         FROM customers c CROSS JOIN generate_series(1, 3) g
        WHERE c.workspace_id = $1 AND c.email IS NOT NULL),
     entries AS (
       INSERT INTO scenario_entries (workspace_id, customer_id, scenario, version, entered_at, state, variant, updated_at)
       SELECT $1, customer_id, scenario, 1, at, 'completed', CASE WHEN h < 5 THEN 'control' END, at FROM s
       RETURNING entry_id, customer_id, scenario, entered_at, variant)
     INSERT INTO messages (workspace_id, customer_id, scenario, entry_id, step_id, channel, template, fate,
                           planned_at, sent_at, cost, updated_at)
     SELECT $1, e.customer_id, e.scenario, e.entry_id, '0', CASE WHEN e.scenario = 'lapsed_win_back' THEN 'sms' ELSE 'email' END,
            'bench', CASE WHEN h < 9 THEN 'bounced' WHEN h < 30 THEN 'sent' WHEN h < 70 THEN 'delivered'
                          WHEN h < 95 THEN 'opened' ELSE 'clicked' END,
            e.entered_at, e.entered_at, 0, e.entered_at
       FROM entries e JOIN s ON s.customer_id = e.customer_id AND s.scenario = e.scenario
      WHERE e.variant IS NULL`,
    [workspaceId, NOW],
  );
  // the interactions the messages' fates imply, as the channels record them: delivered a minute after sending,
  // opened an hour after, clicked two hours after; attribution pairs them with the orders that follow
  await db.pool.query(
    `INSERT INTO events (workspace_id, customer_id, message_id, type, name, occurred_at, received_at, properties)
     SELECT m.workspace_id, m.customer_id, 'mt-' || m.message_id || '-' || t.name, 'track', t.name,
            m.sent_at + t.after, m.sent_at + t.after,
            jsonb_build_object('message_id', m.message_id::text, 'channel', m.channel, 'scenario', m.scenario,
                               'step_id', m.step_id, 'template', m.template)
       FROM messages m
       JOIN (VALUES ('message_delivered', interval '1 minute', ARRAY['delivered', 'opened', 'clicked']),
                    ('message_opened', interval '1 hour', ARRAY['opened', 'clicked']),
                    ('message_clicked', interval '2 hours', ARRAY['clicked'])) AS t(name, after, fates)
         ON m.fate = ANY(t.fates)
      WHERE m.workspace_id = $1 AND m.template = 'bench'`,
    [workspaceId],
  );
}
