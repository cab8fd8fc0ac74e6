// The metrics tree through its three faces on the seeded workspace (metrics-tree-seed.ts): the HTML page opened in
// Chromium (sections and key figures present, no request, no console error, a real screenshot), the HTTP API
// (figures, errors naming the field, the OpenAPI document) and the command line (text, JSON, HTML file, usage
// errors).
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import { type BrowserContext, chromium } from "playwright-core";
import { metricsTree } from "../src/measure/metrics-tree.ts";
import { renderMetricsTreeHtml } from "../src/measure/metrics-tree-html.ts";
import { metricsTreeSchema } from "../src/server/routes/reports.ts";
import { type Db, openDb } from "../src/store/db.ts";
import { migrate } from "../src/store/migrate.ts";
import { createKey, createWorkspace } from "../src/store/workspaces.ts";
import { get, runTact, startServer, type TestDb, type TestServer, testDb } from "./helpers.ts";
import { NOW, PERIOD, seedMetrics } from "./metrics-tree-seed.ts";

let t: TestDb;
let dir: string;
let server: TestServer;
let adminKey: string;
let wsId: number;
let browser: BrowserContext;
/** the database the command line reads: the test's own on PostgreSQL, a PGlite folder otherwise */
let cliEnv: NodeJS.ProcessEnv;

async function seedWorkspace(db: Db): Promise<number> {
  const ws = await createWorkspace(db, "metrics");
  const other = await createWorkspace(db, "other");
  await seedMetrics(db, ws.id, other.id);
  return ws.id;
}

before(async () => {
  t = await testDb();
  dir = await mkdtemp(join(tmpdir(), "tact-metrics-tree-"));
  wsId = await seedWorkspace(t.db);
  adminKey = (await createKey(t.db, "metrics", "admin")).key;
  server = await startServer(t.db, { now: () => NOW });
  cliEnv = { ...process.env, TACT_DATA_DIR: join(dir, "data"), LOG_LEVEL: "silent" };
  delete cliEnv.DATABASE_URL;
  if (t.url) cliEnv.DATABASE_URL = t.url;
  else {
    const cliDb = await openDb({ dataDir: join(dir, "data") });
    await migrate(cliDb);
    await seedWorkspace(cliDb);
    await cliDb.close();
  }
});

after(async () => {
  await browser?.close();
  await server?.close();
  await t?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("the HTML page shows every section and the key figures, offline and without errors", async () => {
  browser = await chromium.launchPersistentContext(join(dir, "profile"), {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1366, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const tree = await metricsTree(t.db, wsId, { ...PERIOD, now: NOW, workspace: "metrics" });
  const path = join(dir, "tree.html");
  await writeFile(path, renderMetricsTreeHtml(tree));
  const page = browser.pages()[0] ?? (await browser.newPage());
  const requests: string[] = [];
  const problems: string[] = [];
  page.on("request", (r) => {
    if (!r.url().startsWith("file:")) requests.push(r.url());
  });
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(e.message));
  await page.goto(pathToFileURL(path).href);

  for (const id of ["revenue", "contribution", "channels", "scenarios", "base", "goals", "nps"])
    assert.ok(await page.isVisible(`section#${id}`), `section ${id}`);
  // the value alone: the box's or the card's figure, without its label
  const figure = async (name: string) =>
    (await page.textContent(`[data-figure="${name}"] .value, [data-figure="${name}"] b`))?.trim() ?? "";
  assert.match(await figure("revenue"), /^400\.00 EUR$/);
  assert.match(await figure("active-customers"), /^4$/);
  assert.match(await figure("arpu"), /^100\.00 EUR$/);
  assert.match(await figure("orders-per-customer"), /^1\.25$/);
  assert.match(await figure("aov"), /^80\.00 EUR$/);
  assert.match(await figure("base-size"), /^7$/);
  assert.match(await figure("digitised"), /^4 \(57\.1%\)$/);
  assert.equal(await page.$$eval("[data-channel]", (els) => els.length), 3);
  assert.match((await page.textContent('[data-channel="email"]')) ?? "", /0\.25 EUR/);
  assert.match((await page.textContent('[data-goal="first_lesson"]')) ?? "", /12\.5%.*met/s);
  assert.match((await page.textContent('[data-goal="win_back"]')) ?? "", /not enough data/);
  assert.equal(await page.$$eval("#base [data-flow]", (els) => els.length), 3);
  assert.equal(await page.$$eval("svg [data-stage]", (els) => els.length), 3);
  assert.match((await page.textContent("#period")) ?? "", /2026-10-01 – 2026-10-31/);
  // incremental and attributed revenue side by side, each under its own heading
  assert.match((await page.textContent("#incremental h3")) ?? "", /^Incremental revenue — what CRM added/);
  assert.match(
    (await page.textContent("#attributed h3")) ?? "",
    /^Attributed revenue — where revenue came from \(not what CRM added\)/,
  );
  const big = async (name: string) => (await page.textContent(`[data-figure="${name}"]`))?.trim() ?? "";
  assert.equal(await big("attributed-revenue"), "300.00 EUR");
  const incremental = tree.contribution?.incrementalRevenue?.estimate;
  assert.ok(incremental !== undefined && incremental > 0);
  assert.equal(await big("incremental-revenue"), `+${incremental.toFixed(2)} EUR`);
  assert.match((await page.textContent('[data-channel-money="sms"]')) ?? "", /200\.00 EUR.*100\.00 EUR/s);
  assert.match((await page.textContent('[data-scenario="welcome"]')) ?? "", /11\.9%\s*vs 25\.0%/);
  assert.match((await page.textContent('[data-figure="nps"] b')) ?? "", /^25$/);
  assert.equal(await page.$$eval("svg [data-nps-stage]", (els) => els.length), 2);

  // printed: the page lays out on A4 as a PDF
  const pdf = await page.pdf({ format: "A4" });
  assert.equal(pdf.subarray(0, 5).toString("latin1"), "%PDF-");
  assert.ok(pdf.length > 10_000, `a PDF with content (${pdf.length} bytes)`);

  const png = await page.screenshot({ fullPage: true });
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "a PNG");
  assert.ok(png.length > 20_000, `a screenshot with content (${png.length} bytes)`);
  await writeFile(join(dir, "tree.png"), png);
  assert.deepEqual(requests, [], "no request left the page");
  assert.deepEqual(problems, [], "no console errors");
});

test("the page escapes names from the data and loads nothing", async () => {
  const tree = await metricsTree(t.db, wsId, { ...PERIOD, now: NOW, workspace: `<script>alert(1)</script>` });
  const html = renderMetricsTreeHtml(tree);
  assert.ok(!html.includes("<script>alert"), "escaped");
  assert.ok(html.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
  assert.ok(
    !/<script|<link|<img|@import|url\(/i.test(html),
    "no scripts, links, images or external resources",
  );
  assert.match(html, /@page \{ size: A4/);

  const empty = await createWorkspace(t.db, "empty");
  const nothing = renderMetricsTreeHtml(await metricsTree(t.db, empty.id, { ...PERIOD, now: NOW }));
  assert.match(nothing, /No order in the period/);
  assert.match(nothing, /No strategy has been applied/);
  assert.ok(!/NaN|Infinity|undefined/.test(nothing), "no broken number on an empty page");
});

test("the API answers the figures and names the field of a bad period", async () => {
  const url = `${server.url}/api/v1/reports/metrics-tree`;
  const ok = await get(`${url}?from=2026-10-01&to=2026-10-31`, adminKey);
  assert.equal(ok.status, 200);
  assert.equal(ok.body.revenue.revenue, 400);
  assert.equal(ok.body.revenue.activeCustomers, 4);
  assert.equal(ok.body.base.size, 7);
  assert.equal(ok.body.channels[0].sent, 5);
  assert.equal(ok.body.goals[0].verdict, "met");
  assert.equal(ok.body.workspace, "metrics");
  assert.equal(ok.body.attribution.attributedRevenue, 300);
  assert.equal(ok.body.nps.nps, 25);
  assert.ok(ok.body.contribution.incrementalRevenue, "an incremental estimate");
  // the answer is what /openapi.json says it is
  const parsed = metricsTreeSchema.safeParse(ok.body);
  assert.ok(parsed.success, JSON.stringify(!parsed.success && parsed.error.issues.slice(0, 3)));

  const bad = await get(`${url}?from=not-a-date`, adminKey);
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.path, "query.from");
  const reversed = await get(`${url}?from=2026-10-05&to=2026-10-01`, adminKey);
  assert.equal(reversed.status, 400);
  assert.equal(reversed.body.error.path, "query.to");
  assert.match(reversed.body.error.message, /after from/);
  const quiet = await get(`${url}?from=1999-01-01&to=1999-02-01`, adminKey);
  assert.equal(quiet.status, 200);
  assert.equal(quiet.body.revenue.arpu, null);
  assert.equal((await get(url)).status, 401);
  const farFuture = await get(`${url}?from=9999-12-01&to=9999-12-31`, adminKey);
  assert.equal(farFuture.status, 200);
  assert.equal(farFuture.body.revenue.orders, 0);
  const tooOld = await get(`${url}?from=0099-01-01`, adminKey);
  assert.equal(tooOld.status, 400);
  assert.equal(tooOld.body.error.path, "query.from");

  const openapi = await get(`${server.url}/openapi.json`);
  const op = openapi.body.paths["/api/v1/reports/metrics-tree"]?.get;
  assert.ok(op, "in the OpenAPI document");
  assert.deepEqual(
    op.parameters.map((p: { name: string }) => p.name),
    ["from", "to"],
  );
});

test("the command line prints text, JSON and an HTML file, and refuses bad dates by flag", async () => {
  const tact = (...args: string[]) => runTact(dir, cliEnv, ...args);
  const period = ["--workspace", "metrics", "--from", "2026-10-01", "--to", "2026-10-31"];
  const text = tact("report", ...period);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /Revenue 400\.00 EUR/);
  assert.match(text.stdout, /ARPU {2}100\.00 EUR/);
  assert.match(text.stdout, /visitor → buyer {2}2/);

  const json = tact("report", ...period, "--json");
  assert.equal(json.code, 0, json.stderr);
  const tree = JSON.parse(json.stdout);
  assert.equal(tree.revenue.aov, 80);
  assert.equal(tree.base.digitised, 4);

  const file = join(dir, "cli.html");
  const html = tact("report", ...period, "--html", "-o", file);
  assert.equal(html.code, 0, html.stderr);
  assert.match(await readFile(file, "utf8"), /data-figure="revenue"/);

  const bad = tact("report", "--workspace", "metrics", "--to", "31.10.2026");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--to: '31\.10\.2026' is not a date-time/);
  const both = tact("report", "--workspace", "metrics", "--json", "--html");
  assert.equal(both.code, 2);
  const missing = tact("report", "--workspace", "nowhere");
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no workspace named nowhere/);
});
