// `tact report nps|attribution` and GET /api/v1/reports/nps|attribution as a user calls them: the same figures as
// JSON, text that says "attributed", bad flags and query values refused with the field named, both routes in
// /openapi.json.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Db, openDb } from "../src/store/db.ts";
import { migrate } from "../src/store/migrate.ts";
import { ensureEventPartitions } from "../src/store/partitions.ts";
import { createKey, createWorkspace } from "../src/store/workspaces.ts";
import { get, runTact, startServer, type TestDb, type TestServer, testDb } from "./helpers.ts";

let t: TestDb;
let dir = "";
let server: TestServer;
let adminKey = "";
let cliEnv: NodeJS.ProcessEnv;

const T = Date.parse("2026-03-10T12:00:00Z");
const DAY = 86_400_000;

/** Four answers (10, 9, 6, 3) to the scenario `ask`, and an order of 90 after an email click and an SMS click. */
async function seed(db: Db): Promise<void> {
  const ws = await createWorkspace(db, "shop");
  await ensureEventPartitions(db, [new Date(T)]);
  const customer = async () => {
    const { rows } = await db.pool.query<{ id: string }>(
      "INSERT INTO customers (workspace_id, customer_id) VALUES ($1, nextval('customer_id_seq')) RETURNING customer_id AS id",
      [ws.id],
    );
    return rows[0]?.id ?? "";
  };
  const event = (c: string, name: string, at: number, properties: object, id: string) =>
    db.pool.query(
      `INSERT INTO events (workspace_id, customer_id, message_id, type, name, occurred_at, received_at, properties)
       VALUES ($1, $2, $3, 'track', $4, $5, $5, $6::jsonb)`,
      [ws.id, c, id, name, new Date(at), JSON.stringify(properties)],
    );
  for (const [i, score] of [10, 9, 6, 3].entries()) {
    const c = await customer();
    await event(c, "nps_response", T - i * DAY, { score, scenario: "ask" }, `n${i}`);
  }
  const buyer = await customer();
  const touch = (id: string, channel: string) => ({
    message_id: id,
    channel,
    scenario: "spring",
    step_id: "0",
    template: "tulips",
  });
  await event(buyer, "message_clicked", T - 2 * DAY, touch("1", "email"), "t1");
  await event(buyer, "message_clicked", T - DAY, touch("2", "sms"), "t2");
  await event(buyer, "order_completed", T, { revenue: 90 }, "o1");
}

before(async () => {
  t = await testDb();
  dir = await mkdtemp(join(tmpdir(), "tact-nps-attribution-"));
  await seed(t.db);
  adminKey = (await createKey(t.db, "shop", "admin")).key;
  server = await startServer(t.db);
  cliEnv = { ...process.env, TACT_DATA_DIR: join(dir, "data"), LOG_LEVEL: "silent" };
  delete cliEnv.DATABASE_URL;
  if (t.url) cliEnv.DATABASE_URL = t.url;
  else {
    const cliDb = await openDb({ dataDir: join(dir, "data") });
    await migrate(cliDb);
    await seed(cliDb);
    await cliDb.close();
  }
});
after(async () => {
  await server?.close();
  await t?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const tact = (...args: string[]) => runTact(dir, cliEnv, ...args);
const PERIOD = ["--workspace", "shop", "--from", "2026-03-01", "--to", "2026-04-01"];

test("tact report nps: the score, its interval and the groups", () => {
  const json = tact("report", "nps", ...PERIOD, "--by", "scenario", "--json");
  assert.equal(json.code, 0, json.stderr);
  const r = JSON.parse(json.stdout);
  // 2 promoters, 2 detractors of 4: NPS 0; SE = 100 √((0.5 + 0.5 − 0) / 4) = 50
  assert.equal(r.overall.nps, 0);
  assert.equal(r.overall.standardError, 50);
  assert.deepEqual(
    r.groups.map((g: { key: string; responses: number }) => [g.key, g.responses]),
    [["ask", 4]],
  );
  const text = tact("report", "nps", ...PERIOD, "--by", "week");
  assert.equal(text.code, 0, text.stderr);
  assert.match(
    text.stdout,
    /overall {2}NPS 0 \(95% CI -98 … \+98\) {2}4 answers: 2 promoters, 0 passives, 2 detractors/,
  );
  assert.match(text.stdout, /2026-W1[01]/);
  const bad = tact("report", "nps", ...PERIOD, "--by", "colour");
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--by.*one of stage, segment, scenario, week, month/);
  const backwards = tact(
    "report",
    "nps",
    "--workspace",
    "shop",
    "--from",
    "2026-04-01",
    "--to",
    "2026-03-01",
  );
  assert.notEqual(backwards.code, 0);
  assert.match(backwards.stderr, /--from: must be before --to/);
});

test("tact report attribution: attributed figures under a model, labelled as such", () => {
  const json = tact("report", "attribution", ...PERIOD, "--model", "linear", "--json");
  assert.equal(json.code, 0, json.stderr);
  const r = JSON.parse(json.stdout);
  assert.equal(r.model, "linear");
  assert.deepEqual(
    r.byChannel.map((c: { channel: string; attributedRevenue: number }) => [c.channel, c.attributedRevenue]),
    [
      ["email", 45],
      ["sms", 45],
    ],
  );
  const text = tact("report", "attribution", ...PERIOD);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /Attribution \(last_touch\)/);
  assert.match(text.stdout, /not what the messages added/);
  assert.match(text.stdout, /sms\s+attributed revenue\s+90\.00/);
  assert.doesNotMatch(text.stdout, /incremental revenue/i);
  const bad = tact("report", "attribution", ...PERIOD, "--model", "u_shaped");
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--model.*one of last_touch, first_touch, linear, time_decay, position_based/);
});

test("the API answers the same reports; bad query values are a 400 naming the field", async () => {
  const base = `${server.url}/api/v1/reports`;
  const nps = await get(`${base}/nps?from=2026-03-01&to=2026-04-01&by=week`, adminKey);
  assert.equal(nps.status, 200, JSON.stringify(nps.body));
  assert.equal(nps.body.overall.responses, 4);
  assert.equal(nps.body.by, "week");
  const attribution = await get(
    `${base}/attribution?from=2026-03-01&to=2026-04-01&model=first_touch`,
    adminKey,
  );
  assert.equal(attribution.status, 200, JSON.stringify(attribution.body));
  assert.deepEqual(attribution.body.byChannel, [
    { channel: "email", attributedRevenue: 90, attributedConversions: 1 },
  ]);
  assert.match(attribution.body.label, /^Attributed revenue/);
  for (const [url, path] of [
    [`${base}/nps?by=colour`, "query.by"],
    [`${base}/nps?from=yesterday`, "query.from"],
    [`${base}/attribution?model=u_shaped`, "query.model"],
    [`${base}/attribution?from=2026-04-01&to=2026-03-01`, "query.from"],
  ] as const) {
    const r = await get(url, adminKey);
    assert.equal(r.status, 400, url);
    assert.equal(r.body.error.path, path, url);
  }
  assert.equal((await get(`${base}/nps`)).status, 401);
  const doc = await get(`${server.url}/openapi.json`);
  assert.ok(doc.body.paths["/api/v1/reports/nps"]?.get, "nps report in OpenAPI");
  assert.ok(doc.body.paths["/api/v1/reports/attribution"]?.get, "attribution report in OpenAPI");
});
