// External experiments as a user meets them. Hillstrom's e-mail experiment (64,000 customers) is imported with
// `tact experiments import` and reported with `tact report experiment --json`, and the figures are compared with
// the published ones (shared/data/README.md). Bad input (NaN, Infinity, negative spend, a missing control arm, a
// re-import, a control group of one) is checked in-process on small files, and the report through the HTTP API.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import Fastify from "fastify";
import { systemClock } from "../src/core/clock.ts";
import { ingestMessages } from "../src/ingest/ingest.ts";
import { ExperimentFileError, importExperiment } from "../src/measure/experiment-import.ts";
import { type Effect, experimentReport } from "../src/measure/experiment-report.ts";
import { ApiRegistry } from "../src/server/api.ts";
import { registerMeasure } from "../src/server/routes/measure.ts";
import { ExperimentConflictError, findExperiment } from "../src/store/experiments.ts";
import { KeyResolver } from "../src/store/workspaces.ts";
import { runTact, type TestDb, testDb, testWorkspace } from "./helpers.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const HILLSTROM = join(ROOT, "../shared/data/hillstrom.csv");

let t: TestDb;
let dir: string;
before(async () => {
  t = await testDb();
  dir = mkdtempSync(join(tmpdir(), "tact-experiment-"));
});
after(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

const tact = (env: NodeJS.ProcessEnv, ...args: string[]) => runTact(dir, env, ...args);

function effect(e: unknown): Effect {
  assert.ok(e && typeof e === "object" && !("error" in e), `an estimate, got ${JSON.stringify(e)}`);
  return e as Effect;
}

const near = (actual: number, expected: number, tolerance: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual}, published ${expected}`);

test("Hillstrom through the CLI reproduces the published per-arm figures and uplifts", {
  skip: !existsSync(HILLSTROM) && "hillstrom.csv absent",
}, () => {
  const env: NodeJS.ProcessEnv = { ...process.env, TACT_DATA_DIR: join(dir, "data"), LOG_LEVEL: "silent" };
  delete env.DATABASE_URL;
  if (t.url) env.DATABASE_URL = t.url;
  const ws = `hill${Date.now().toString(36)}`;
  assert.equal(tact(env, "workspaces", "create", ws).code, 0);
  const args = ["--workspace", ws, "--name", "hillstrom", "--assignments", HILLSTROM];
  const imp = tact(
    env,
    "experiments",
    "import",
    ...args,
    "--arm-column",
    "segment",
    "--control-arm",
    "No E-Mail",
    "--json",
  );
  assert.equal(imp.code, 0, imp.stderr);
  const summary = JSON.parse(imp.stdout);
  assert.equal(summary.rowsImported, 64_000);
  assert.equal(summary.rejectedRows, 0);
  assert.equal(summary.customersBy, "row number", "the file has no customer column");
  assert.deepEqual([...summary.metrics].sort(), ["conversion", "spend", "visit"]);

  const rep = tact(env, "report", "experiment", "hillstrom", "--workspace", ws, "--json");
  assert.equal(rep.code, 0, rep.stderr);
  const report = JSON.parse(rep.stdout);
  const arm = (name: string) => report.arms.find((a: { arm: string }) => a.arm === name);
  const published = [
    ["Mens E-Mail", 21_307, 18.2757, 1.2531, 1.422617],
    ["Womens E-Mail", 21_387, 15.14, 0.8837, 1.077202],
    ["No E-Mail", 21_306, 10.6167, 0.5726, 0.652789],
  ] as const;
  for (const [name, n, visit, conversion, spend] of published) {
    const a = arm(name);
    assert.ok(a, `arm ${name} in the report`);
    assert.equal(a.customers, n, `${name}: customers`);
    near(a.visitRate * 100, visit, 0.00005, `${name}: visit rate %`);
    near(a.conversionRate * 100, conversion, 0.00005, `${name}: conversion rate %`);
    near(a.spendPerCustomer, spend, 0.0000005, `${name}: spend per customer`);
  }
  assert.equal(arm("No E-Mail").control, true);

  const vs = (name: string) => report.comparisons.find((c: { arm: string }) => c.arm === name);
  const mens = vs("Mens E-Mail");
  const womens = vs("Womens E-Mail");
  assert.equal(mens.against, "No E-Mail");
  // Yasui 2020 §1.4: a two-sample t-test with a pooled variance.
  near(effect(mens.spendPooled).difference, 0.769827, 0.0000005, "Mens uplift");
  near(effect(mens.spendPooled).statistic, 5.3001, 0.00005, "Mens t");
  const p = effect(mens.spendPooled).pValue;
  assert.ok(p > 1.15e-7 && p < 1.25e-7, `Mens p ≈ 1.2e-07, got ${p}`);
  near(effect(womens.spendPooled).difference, 0.424412, 0.0000005, "Womens uplift");
  near(effect(womens.spendPooled).statistic, 3.2548, 0.00005, "Womens t");
  // Welch's test, the default, agrees closely on groups this large; its interval holds the uplift.
  const welch = effect(mens.spend);
  assert.ok(welch.ci.lower > 0 && welch.ci.lower < 0.769827 && welch.ci.upper > 0.769827);
  assert.ok(effect(mens.conversion).pValue < 0.001 && effect(mens.conversion).difference > 0);
  near(mens.incrementalSpend.estimate, 0.769827 * 21_307, 0.02, "incremental money");
});

// ---- bad input, in-process ----------------------------------------------------------------------------------

let fileNo = 0;
function csv(lines: string[]): string {
  const p = join(dir, `e${++fileNo}.csv`);
  writeFileSync(p, `${lines.join("\r\n")}\r\n`);
  return p;
}
const now = new Date("2026-03-01T00:00:00Z");

test("NaN, Infinity, negative and malformed outcomes are rejected by line; good rows are kept", async () => {
  const { workspace } = await testWorkspace(t.db);
  const path = csv([
    "customer_id,arm,converted,spend",
    "a1,control,0,0",
    "a2,control,1,10.5",
    "a3,mail,1,NaN",
    "a4,mail,1,Infinity",
    "a5,mail,0,-3",
    "a6,mail,2.5,1",
    "a7,,0,0",
    'a8,mail,1,"$1,000"',
    "a9,mail,0,",
    "a2,mail,0,0",
  ]);
  const s = await importExperiment(t.db, workspace, {
    name: "x",
    assignments: path,
    controlArm: "control",
    now,
  });
  assert.equal(s.customersBy, "column customer_id");
  assert.equal(s.rowsRead, 10);
  assert.equal(s.rowsImported, 4);
  assert.deepEqual(
    s.errors.map((e) => e.line),
    [4, 5, 6, 7, 8, 11],
  );
  assert.match(s.errors[0]?.reason ?? "", /spend: 'NaN' is not a number/);
  assert.match(s.errors[2]?.reason ?? "", /negative/);
  assert.match(s.errors[5]?.reason ?? "", /already in the file on line 3/);
  const exp = await findExperiment(t.db, workspace.id, "x");
  assert.ok(exp);
  const r = await experimentReport(t.db, workspace.id, exp);
  const mail = r.arms.find((a) => a.arm === "mail");
  assert.equal(mail?.customers, 2);
  assert.equal(mail?.spend, 1000, 'a quoted "$1,000" is a thousand; a blank spend is 0');
  assert.equal(mail?.visitRate, null, "visits were not imported, so no visit rate is shown");
});

test("re-importing an experiment does not double it; another control arm is refused; --replace drops old rows", async () => {
  const { workspace } = await testWorkspace(t.db);
  const rows = ["user_id,group,conversion"];
  for (let i = 0; i < 40; i++) rows.push(`u${i},${i % 2 ? "sms" : "holdout"},${i % 3 === 0 ? 1 : 0}`);
  const path = csv(rows);
  const opts = { name: "calls", assignments: path, controlArm: "holdout", now };
  const first = await importExperiment(t.db, workspace, opts);
  const second = await importExperiment(t.db, workspace, opts);
  assert.equal(first.created, true);
  assert.equal(second.created, false);
  assert.equal(second.replacedCustomers, 40);
  assert.equal(second.customers, 40, "the same 40 customers, not 80");
  const exp = await findExperiment(t.db, workspace.id, "calls");
  assert.ok(exp);
  const r = await experimentReport(t.db, workspace.id, exp);
  assert.deepEqual(
    r.arms.map((a) => [a.arm, a.customers, a.conversions]),
    [
      ["holdout", 20, 7],
      ["sms", 20, 7],
    ],
  );
  await assert.rejects(
    importExperiment(t.db, workspace, { ...opts, controlArm: "sms" }),
    (e: unknown) => e instanceof ExperimentConflictError && /control arm 'holdout'/.test(e.message),
  );
  const fewer = csv(rows.slice(0, 11));
  const replaced = await importExperiment(t.db, workspace, { ...opts, assignments: fewer, replace: true });
  assert.equal(replaced.customers, 10);
});

test("outcomes from a second file are joined on the customer and add up; missing ones count as nothing", async () => {
  const { workspace } = await testWorkspace(t.db);
  // A known customer: the assignment links to them.
  await ingestMessages(t.db, workspace, [{ type: "identify", userId: "c1", messageId: "m1" }], {
    receivedAt: now,
  });
  const assignments = csv([
    "customer_id,arm,started_at",
    "c1,letter,2026-02-01",
    "c2,letter,2026-02-01",
    "c3,none,2026-02-02",
    "c4,none,2026-02-02",
  ]);
  const outcomes = csv(["customer_id,visit,spend", "c1,1,10", "c1,0,5.25", "c3,1,oops", "c9,1,7"]);
  const s = await importExperiment(t.db, workspace, {
    name: "letters",
    assignments,
    outcomes,
    controlArm: "none",
    startedAtColumn: "started_at",
    now,
  });
  assert.equal(s.outcomeRowsRead, 4);
  assert.equal(s.outcomeRowsUnmatched, 1, "c9 is not in the experiment");
  assert.deepEqual(
    s.errors.map((e) => e.line),
    [4],
  );
  assert.equal(
    s.rowsImported,
    3,
    "c3's outcome is unknown, so c3 is left out rather than counted as spending 0",
  );
  assert.equal(s.linkedCustomers, 1);
  const exp = await findExperiment(t.db, workspace.id, "letters");
  assert.ok(exp);
  const r = await experimentReport(t.db, workspace.id, exp);
  assert.equal(r.startedAt, "2026-02-01T00:00:00.000Z");
  const letter = r.arms.find((a) => a.arm === "letter");
  assert.deepEqual([letter?.customers, letter?.visits, letter?.spend], [2, 1, 15.25]);
  const cmp = r.comparisons[0];
  assert.ok(cmp);
  assert.ok(cmp.spend && "error" in cmp.spend, "a control group of one customer cannot give a t-test");
  assert.ok(cmp.warnings.some((w) => /at least 2 customers/.test(w)));
});

test("a control arm nobody is in, all-zero spend, and the report through the HTTP API", async () => {
  const w = await testWorkspace(t.db);
  const path = csv(["arm,spend", "a,0", "a,0", "b,0", "b,0", "b,0"]);
  await assert.rejects(
    importExperiment(t.db, w.workspace, { name: "z", assignments: path, controlArm: "c", now }),
    (e: unknown) => e instanceof ExperimentFileError && /'a', 'b'/.test(e.message),
  );
  await importExperiment(t.db, w.workspace, { name: "zero spend", assignments: path, controlArm: "a", now });

  const app = Fastify();
  const api = new ApiRegistry(app, new KeyResolver(t.db));
  registerMeasure(api, t.db, systemClock);
  await app.ready();
  const res = await app.inject({
    url: `/api/v1/experiments/${encodeURIComponent("zero spend")}/report`,
    headers: { authorization: `Bearer ${w.adminKey}` },
  });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json();
  const spend = effect(body.comparisons[0].spend);
  assert.equal(spend.difference, 0);
  assert.equal(spend.pValue, 1, "all-zero spend in both arms: no evidence of a difference");
  const missing = await app.inject({
    url: "/api/v1/experiments/nope/report",
    headers: { authorization: `Bearer ${w.adminKey}` },
  });
  assert.equal(missing.statusCode, 404);
  await app.close();
});
