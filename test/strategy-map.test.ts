// The communication map of the online-school example, sized by facts from a real database, opened in Chromium:
// every stage is a column and every scenario is on it, the page asks for nothing over the network, logs no
// error, escapes text from the document, and renders to a real screenshot.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import { type BrowserContext, chromium } from "playwright-core";
import { gatherStrategyFacts } from "../src/engine/strategy-facts.ts";
import { createWorkspace } from "../src/store/workspaces.ts";
import { loadStrategy } from "../src/strategy/load.ts";
import { renderCommunicationMap } from "../src/strategy/map.ts";
import type { Strategy } from "../src/strategy/types.ts";
import { type TestDb, testDb } from "./helpers.ts";

const FILE = "examples/online-school/strategy.yaml";

let t: TestDb;
let dir: string;
let browser: BrowserContext;
let strategy: Strategy;
let html: string;

before(async () => {
  t = await testDb();
  const ws = await createWorkspace(t.db, "map");
  const optedIn = JSON.stringify({ email: { state: "opted_in", at: new Date().toISOString() } });
  await t.db.pool.query(
    `INSERT INTO customers (workspace_id, customer_id, email, consents, orders, revenue)
     SELECT $1, nextval('customer_id_seq'), 'c' || g || '@example.com', $2::jsonb, g % 3, (g % 3) * 1000
       FROM generate_series(1, 30) g`,
    [ws.id, optedIn],
  );
  const loaded = loadStrategy(await import("node:fs").then((fs) => fs.readFileSync(FILE)), FILE);
  if (!loaded.ok) throw new Error(`${FILE}: ${JSON.stringify(loaded.diagnostics.slice(0, 3))}`);
  strategy = loaded.strategy;
  const facts = await gatherStrategyFacts(t.db, ws.id, strategy, new Date());
  html = renderCommunicationMap(strategy, facts, { file: FILE });
  dir = await mkdtemp(join(tmpdir(), "tact-map-"));
  browser = await chromium.launchPersistentContext(join(dir, "profile"), {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1440, height: 900 },
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
});

after(async () => {
  await browser?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  await t?.close();
});

test("the map shows every stage as a column and every scenario, offline and without errors", async () => {
  const path = join(dir, "map.html");
  await writeFile(path, html);
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

  const columns = await page.$$eval("th[data-stage]", (els) => els.map((e) => e.getAttribute("data-stage")));
  for (const stage of strategy.stages)
    assert.ok(columns.includes(stage.name), `column for stage ${stage.name}`);
  assert.deepEqual(
    columns.slice(0, 5),
    ["visitor", "lead", "first_buyer", "repeat", "anchor"],
    "journey order",
  );
  const onMap = new Set(
    await page.$$eval("[data-scenario]", (els) => els.map((e) => e.getAttribute("data-scenario"))),
  );
  for (const name of Object.keys(strategy.scenarios))
    assert.ok(onMap.has(name), `scenario ${name} is on the map`);
  const rows = await page.$$eval("th[data-row]", (els) => els.map((e) => e.getAttribute("data-row")));
  assert.deepEqual(rows, Object.keys(strategy.channels));
  const goals = await page.$$eval("[data-goal]", (els) => els.length);
  assert.equal(goals, Object.keys(strategy.goals).length);
  const rules = await page.textContent("#rules");
  assert.match(rules ?? "", /opt_in/);
  assert.match(rules ?? "", /max 4 per 7d on all channels/);

  const png = await page.screenshot({ fullPage: true });
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "a PNG");
  assert.ok(png.length > 20_000, `a screenshot with content (${png.length} bytes)`);
  assert.deepEqual(requests, [], "no request left the page");
  assert.deepEqual(problems, [], "no console errors");
});

test("text from the document is escaped and the page is self-contained", () => {
  const hostile = { ...strategy, name: `<script>alert("x")</script> & co` };
  const page = renderCommunicationMap(hostile, null);
  assert.ok(!page.includes("<script>alert"), "the name is escaped");
  assert.ok(page.includes("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co"));
  assert.ok(
    !/<script|<link|<img|@import|url\(/i.test(page),
    "no scripts, links, images or external resources",
  );
  assert.match(page, /@page \{ size: A4 landscape/);
});
