// Customer value as a user meets it. The CDNOW 1/10 sample is imported with `tact import events --preset cdnow`
// and fitted with `tact value fit --calibration-end 1997-09-30 --json`; the parameters are compared with the
// published ones (Fader, Hardie & Lee 2005) and the holdout prediction is reported beside the actual 1,882 repeat
// purchases. Too little data, single purchases, one shared purchase day, a spend model without a finite maximum and
// refunds are checked in-process on orders sent through the ingestion pipeline.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  applyStrategy,
  readsValue,
  recomputeWorkspace,
  strategyReadsValue,
} from "../src/engine/strategy-runtime.ts";
import { ingestMessages } from "../src/ingest/ingest.ts";
import { fitCustomerValue } from "../src/measure/value-fit.ts";
import { refitStaleValues } from "../src/measure/value-refit.ts";
import { openDb } from "../src/store/db.ts";
import { createWorkspace, type Workspace } from "../src/store/workspaces.ts";
import { runTact, type TestDb, testDb, testWorkspace } from "./helpers.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SAMPLE = join(ROOT, "../shared/data/CDNOW_sample.txt");

let t: TestDb;
let dir: string;
before(async () => {
  t = await testDb();
  dir = mkdtempSync(join(tmpdir(), "tact-value-"));
});
after(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

const tact = (env: NodeJS.ProcessEnv, ...args: string[]) => runTact(dir, env, ...args);

function within(actual: number, published: number, share: number, name: string): void {
  assert.ok(
    Math.abs(actual - published) <= Math.abs(published) * share,
    `${name} ${actual} vs published ${published}`,
  );
}

test("CDNOW through the CLI reproduces the published BG/NBD and Gamma-Gamma parameters", {
  skip: !existsSync(SAMPLE) && "CDNOW sample absent",
}, async (ctx) => {
  const dataDir = join(dir, "data");
  const env: NodeJS.ProcessEnv = { ...process.env, TACT_DATA_DIR: dataDir, LOG_LEVEL: "silent" };
  delete env.DATABASE_URL;
  if (t.url) env.DATABASE_URL = t.url;
  const ws = `cdnow${Date.now().toString(36)}`;
  assert.equal(tact(env, "workspaces", "create", ws).code, 0);
  const imp = tact(env, "import", "events", SAMPLE, "--workspace", ws, "--preset", "cdnow", "--json");
  assert.equal(imp.code, 0, imp.stderr);
  const summary = JSON.parse(imp.stdout);
  assert.equal(summary.rowsImported, 6919, "every transaction of the sample, the first line included");
  assert.equal(summary.rejectedRows, 0);
  const again = JSON.parse(
    tact(env, "import", "events", SAMPLE, "--workspace", ws, "--preset", "cdnow", "--json").stdout,
  );
  assert.equal(again.messages.accepted, 0, "importing the file again stores nothing twice");

  const fit = tact(env, "value", "fit", "--workspace", ws, "--calibration-end", "1997-09-30", "--json");
  assert.equal(fit.code, 0, fit.stderr);
  const r = JSON.parse(fit.stdout);
  assert.equal(r.status, "fitted", r.reason);
  assert.equal(r.customers, 2357);
  assert.equal(r.repeatPurchases, 2457, "repeat transactions in calibration");
  within(r.bgNbd.r, 0.243, 0.01, "r");
  within(r.bgNbd.alpha, 4.414, 0.01, "alpha");
  within(r.bgNbd.a, 0.793, 0.01, "a");
  within(r.bgNbd.b, 2.426, 0.01, "b");
  assert.ok(Math.abs(r.bgNbd.logLikelihood + 9582.4) < 0.1, `log-likelihood ${r.bgNbd.logLikelihood}`);
  assert.equal(r.gammaGamma.customers, 946);
  within(r.gammaGamma.p, 6.25, 0.01, "p");
  within(r.gammaGamma.q, 3.74, 0.01, "q");
  within(r.gammaGamma.gamma, 15.44, 0.01, "gamma");
  assert.equal(r.holdout.actual, 1882, "repeat purchases in the 39-week holdout");
  within(r.holdout.weeks, 39, 0.001, "holdout length in weeks");
  ctx.diagnostic(
    `holdout repeat purchases: predicted ${r.holdout.predicted.toFixed(1)}, actual ${r.holdout.actual}`,
  );
  within(r.holdout.predicted, 1882, 0.15, "holdout prediction (the core measured 1,653.4, 12% below)");

  const show = tact(env, "value", "show", "--workspace", ws, "--json");
  assert.equal(show.code, 0, show.stderr);
  assert.equal(JSON.parse(show.stdout).model.status, "fitted");

  // Per-customer values are one row per (workspace, customer), with plain column names for conditions.
  const db = t.url ? t.db : await openDb({ dataDir });
  try {
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n, count(clv)::int AS with_clv, min(clv_percentile) AS lo, max(clv_percentile) AS hi,
              min(p_alive) AS pmin, max(p_alive) AS pmax, count(rfm_group)::int AS grouped,
              count(*) FILTER (WHERE clv_percentile >= 90)::int AS anchors
         FROM customer_value v JOIN workspaces w USING (workspace_id) WHERE w.name = $1`,
      [ws],
    );
    const v = rows[0];
    assert.equal(v.n, 2357);
    assert.equal(v.with_clv, 2357);
    assert.ok(v.lo > 0 && v.hi <= 100 && v.hi > 99);
    assert.ok(v.pmin > 0 && v.pmax <= 1);
    assert.equal(v.grouped, 2357, "every customer bought within the 365 days before the calibration end");
    within(v.anchors, 236, 0.05, "anchor customers: the top 10%");
    // A customer who bought often and recently is worth more than one who bought once, long ago.
    const pick = await db.pool.query(
      `SELECT v.frequency, v.clv, v.p_alive FROM customer_value v JOIN workspaces w USING (workspace_id)
        WHERE w.name = $1 ORDER BY v.frequency DESC, v.recency_weeks DESC LIMIT 1`,
      [ws],
    );
    const best = pick.rows[0];
    const once = await db.pool.query(
      `SELECT max(v.clv) AS clv FROM customer_value v JOIN workspaces w USING (workspace_id)
        WHERE w.name = $1 AND v.frequency = 0 AND v.age_weeks > 35`,
      [ws],
    );
    assert.ok(
      best.clv > 10 * Number(once.rows[0].clv),
      `heavy buyer ${best.clv} vs one-time ${once.rows[0].clv}`,
    );
  } finally {
    if (!t.url) await db.close();
  }
});

// ---- bad input, in-process ----------------------------------------------------------------------------------

const DAY = 86_400_000;
const START = Date.UTC(2025, 0, 1);

async function orders(w: Workspace, list: { user: string; day: number; revenue: number; event?: string }[]) {
  const messages = list.map((o, i) => ({
    type: "track",
    event: o.event ?? "Order Completed",
    userId: o.user,
    messageId: `o${i}`,
    timestamp: new Date(START + o.day * DAY).toISOString(),
    properties: { revenue: o.revenue },
  }));
  for (let i = 0; i < messages.length; i += 500) {
    const r = await ingestMessages(t.db, w, messages.slice(i, i + 500), {
      receivedAt: new Date(START + 400 * DAY),
    });
    assert.equal(r.rejected.length, 0, JSON.stringify(r.rejected[0]));
  }
}

const fitAt = (w: Workspace, day = 300) =>
  fitCustomerValue(t.db, w.id, {
    calibrationEnd: new Date(START + day * DAY),
    now: new Date(START + 400 * DAY),
  });

async function storedValues(w: Workspace) {
  const { rows } = await t.db.pool.query(
    "SELECT rfm_group, expected_purchases, p_alive, clv FROM customer_value WHERE workspace_id = $1",
    [w.id],
  );
  return rows;
}

test("too few customers: the models are not fitted, RFM is stored, and the reason is given", async () => {
  const { workspace } = await testWorkspace(t.db);
  const list = [];
  for (let c = 0; c < 30; c++)
    for (let k = 0; k < 3; k++) list.push({ user: `u${c}`, day: c + k * 40, revenue: 10 + c });
  await orders(workspace, list);
  const r = await fitAt(workspace);
  assert.equal(r.status, "rfm_only");
  assert.match(r.reason ?? "", /too little data: 30 customers, the fit needs at least 100/);
  const rows = await storedValues(workspace);
  assert.equal(rows.length, 30);
  assert.ok(rows.every((x) => x.rfm_group !== null && x.expected_purchases === null && x.clv === null));
});

test("single purchases only, and every purchase on one day: refused with the reason, RFM kept", async () => {
  const single = (await testWorkspace(t.db)).workspace;
  await orders(
    single,
    Array.from({ length: 150 }, (_, c) => ({ user: `s${c}`, day: c, revenue: 20 })),
  );
  const a = await fitAt(single);
  assert.equal(a.status, "rfm_only");
  assert.match(a.reason ?? "", /0 customers bought again/);
  assert.equal((await storedValues(single)).length, 150);

  const sameDay = (await testWorkspace(t.db)).workspace;
  const list = [];
  for (let c = 0; c < 150; c++)
    list.push({ user: `d${c}`, day: 10, revenue: 5 }, { user: `d${c}`, day: 10, revenue: 7 });
  await orders(sameDay, list);
  const b = await fitAt(sameDay);
  assert.equal(b.status, "rfm_only", "two orders on one day are one purchase: nobody bought again");
  assert.equal(b.repeatCustomers, 0);
});

test("a spend model without a finite maximum is reported, purchases are still predicted", async () => {
  const { workspace } = await testWorkspace(t.db);
  const list = [];
  // Every purchase costs the same: the Gamma-Gamma likelihood grows without bound as the spread shrinks.
  for (let c = 0; c < 200; c++) {
    const n = 1 + (c % 4);
    for (let k = 0; k < n; k++) list.push({ user: `g${c}`, day: (c % 50) + k * (20 + (c % 7)), revenue: 25 });
  }
  await orders(workspace, list);
  const r = await fitAt(workspace);
  assert.equal(r.status, "partial", r.reason ?? "");
  assert.match(
    r.reason ?? "",
    /spend model \(Gamma-Gamma\) not fitted: .*(no finite maximum|did not converge|q = )/,
  );
  assert.ok(r.bgNbd && r.bgNbd.r > 0);
  const rows = await storedValues(workspace);
  assert.equal(rows.length, 200);
  assert.ok(rows.every((x) => x.expected_purchases > 0 && x.p_alive > 0 && x.clv === null));
});

test("refunds lower RFM money, not the purchase count; no orders at all is said so", async () => {
  const { workspace } = await testWorkspace(t.db);
  await orders(workspace, [
    { user: "r1", day: 10, revenue: 100 },
    { user: "r1", day: 20, revenue: 100, event: "order_refunded" },
    { user: "r2", day: 10, revenue: 50 },
  ]);
  await fitAt(workspace);
  const { rows } = await t.db.pool.query(
    `SELECT c.user_id, v.frequency, v.rfm_m FROM customer_value v JOIN customers c USING (workspace_id, customer_id)
      WHERE v.workspace_id = $1 ORDER BY c.user_id`,
    [workspace.id],
  );
  assert.deepEqual(
    rows.map((x) => [x.user_id, x.frequency]),
    [
      ["r1", 0],
      ["r2", 0],
    ],
  );
  assert.ok(rows[0].rfm_m < rows[1].rfm_m, "r1's refund leaves them below r2 on money");

  const empty = (await testWorkspace(t.db)).workspace;
  const r = await fitAt(empty);
  assert.equal(r.status, "no_orders");
  assert.equal(r.customers, 0);
});

/** n customers: a third buy often and recently, a third bought a few times long ago, the rest once. */
function buyers(n: number) {
  const list: { user: string; day: number; revenue: number }[] = [];
  for (let c = 0; c < n; c++) {
    const times = c % 3 === 0 ? 6 + (c % 5) : c % 3 === 1 ? 3 : 1;
    for (let k = 0; k < times; k++) {
      const day = c % 3 === 0 ? 200 + k * 15 : c % 3 === 1 ? 10 + k * 20 : 5 + (c % 50);
      list.push({ user: `v${c}`, day, revenue: 20 + (c % 7) * 10 });
    }
  }
  return list;
}

const VALUE_STAGES = [
  "version: 1",
  "name: Value stages",
  "timezone: UTC",
  "currency: USD",
  'channels: { email: { provider: smtp, from: "shop@example.com" } }',
  "stages:",
  '  anchor: "clv_percentile >= 90"',
  '  at_risk: "p_alive < 0.3"',
  '  buyer: "orders >= 1"',
  '  visitor: "orders == 0"',
  "segments: { champions: \"rfm_group == 'champions'\" }",
].join("\n");

test("stages and segments can read the fitted value; a new fit recomputes them (clv_percentile, p_alive)", async () => {
  const w = await createWorkspace(t.db, "valuestages");
  const strategy = VALUE_STAGES;
  const applied = await applyStrategy(t.db, w.id, strategy, "value.yaml", "test", new Date(START));
  assert.ok(applied.ok, JSON.stringify(!applied.ok && applied.diagnostics));
  await orders(w, buyers(160));
  const fit = await fitAt(w);
  assert.ok(fit.bgNbd, `fitted: ${fit.status} ${fit.reason}`);
  const r = await recomputeWorkspace(t.db, w.id, new Date(), readsValue);
  assert.ok(r, "the strategy reads the value: recomputed");
  const { rows } = await t.db.pool.query<{
    stage: string;
    clv_percentile: number;
    p_alive: number;
    rfm_group: string;
    champion: boolean;
  }>(
    `SELECT m.name AS stage, v.clv_percentile, v.p_alive, v.rfm_group,
            EXISTS (SELECT 1 FROM memberships s WHERE s.workspace_id = m.workspace_id AND s.customer_id = m.customer_id
                      AND s.kind = 'segment' AND s.name = 'champions' AND s.left_at IS NULL) AS champion
       FROM memberships m JOIN customer_value v USING (workspace_id, customer_id)
      WHERE m.workspace_id = $1 AND m.kind = 'stage' AND m.left_at IS NULL`,
    [w.id],
  );
  assert.equal(rows.length, 160);
  for (const row of rows) {
    const expected =
      row.clv_percentile >= 90 ? "anchor" : row.p_alive !== null && row.p_alive < 0.3 ? "at_risk" : "buyer";
    assert.equal(row.stage, expected, JSON.stringify(row));
    assert.equal(row.champion, row.rfm_group === "champions", JSON.stringify(row));
  }
  const stages = new Set(rows.map((x) => x.stage));
  assert.ok(stages.has("anchor") && stages.has("at_risk") && stages.has("buyer"), [...stages].join());
  // A strategy that reads no value is not recomputed by a fit.
  const plain = strategy.replace(/ {2}anchor.*\n {2}at_risk.*\n/, "").replace(/\nsegments.*$/, "");
  assert.ok((await applyStrategy(t.db, w.id, plain, "value.yaml", "test", new Date(START))).ok);
  assert.equal(await recomputeWorkspace(t.db, w.id, new Date(), readsValue), null);
});

test("the worker refits a stale fit once buyers changed, and a strategy reading the value gets a first fit", async () => {
  const w = await createWorkspace(t.db, "refit");
  await orders(w, buyers(150));
  const due = (now: Date) =>
    refitStaleValues(t.db, { now, everyMs: 24 * 3600_000, readsValue: (id) => strategyReadsValue(t.db, id) });
  const modelsOf = async () =>
    Number(
      (await t.db.pool.query("SELECT count(*) AS n FROM value_models WHERE workspace_id = $1", [w.id]))
        .rows[0].n,
    );

  assert.equal(
    (await due(new Date())).has(w.id),
    false,
    "never fitted, and the strategy does not read the value",
  );
  assert.ok((await applyStrategy(t.db, w.id, VALUE_STAGES, "value.yaml", "test", new Date())).ok);
  const first = await due(new Date());
  assert.ok(first.get(w.id)?.status, "the strategy reads the value: a first fit");
  assert.equal(await modelsOf(), 1);
  assert.equal((await due(new Date())).has(w.id), false, "a fit younger than the interval is kept");
  const later = new Date(Date.now() + 25 * 3600_000);
  assert.equal((await due(later)).has(w.id), false, "no buyer changed since the fit");
  await t.db.pool.query("UPDATE customers SET updated_at = $2 WHERE workspace_id = $1 AND orders > 0", [
    w.id,
    new Date(Date.now() + 3600_000),
  ]);
  assert.ok((await due(later)).has(w.id), "stale, and buyers changed: refitted");
  assert.equal(await modelsOf(), 2);
});
