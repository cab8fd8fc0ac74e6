// `tact strategy simulate` through the CLI: the online-school strategy over a small synthetic base reports what
// was sent, suppressed and deferred, by week, channel and scenario, the same for the same seed; a tight cap shows
// up as frequency_capped suppressions and the customers it held back; a copy of a workspace (--from-db) leaves the
// configured database exactly as it was.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { generate } from "../examples/online-school/generate.ts";
import type { SimulationReport } from "../src/engine/simulate.ts";
import { loadSynthetic } from "../src/store/bulk-load.ts";
import { type Db, openDb } from "../src/store/db.ts";
import { migrate } from "../src/store/migrate.ts";
import { createWorkspace } from "../src/store/workspaces.ts";
import { type TestDb, testDb } from "./helpers.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SCHOOL = join(ROOT, "examples/online-school/strategy.yaml");
/** A week holding the online school's spring promotion (scheduled for 2027-04-01 11:00). */
const PROMO_WEEK = "2027-03-28T00:00:00Z";
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "tact-simulate-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI; without a database in the environment, so nothing but what a test names is reachable. */
function tact(args: string[], env: NodeJS.ProcessEnv = {}) {
  const base: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "silent", TACT_DATA_DIR: join(dir, "none") };
  delete base.DATABASE_URL;
  const r = spawnSync(process.execPath, [join(ROOT, "bin/tact.js"), ...args], {
    env: { ...base, ...env },
    encoding: "utf8",
    cwd: dir,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function simulateJson(args: string[], env: NodeJS.ProcessEnv = {}): SimulationReport {
  const r = tact(["strategy", "simulate", ...args, "--json"], env);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as SimulationReport;
}

const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);

test("a synthetic base: messages by week and channel, suppressions, scenarios; the same seed gives the same report", () => {
  const args = [SCHOOL, "--customers", "120", "--days", "14", "--seed", "1"];
  const first = simulateJson(args);
  assert.equal(first.base.kind, "synthetic");
  assert.equal(first.weeks.length, 2);
  assert.ok(
    first.events.history > 0 && first.events.simulated > 0,
    "history loaded and new activity ingested",
  );
  assert.equal(first.events.rejected, 0);
  assert.ok(first.customers.atEnd >= first.customers.atStart);
  assert.ok(first.messages.sent > 0, "the strategy sends something in two weeks");
  assert.ok(first.suppressions.length > 0, "and holds some back, each with its reason");
  assert.deepEqual(
    first.channels.map((c) => c.channel),
    ["email", "sms", "telegram", "call"],
  );
  // The week table and the channel table count the same messages.
  assert.equal(sum(first.weeks.flatMap((w) => Object.values(w.sent))), first.messages.sent);
  assert.equal(sum(first.channels.map((c) => c.sent)), first.messages.sent);
  // The strategy allows at most 4 messages in 7 days: no one gets more in a calendar week.
  for (const w of first.weeks) assert.ok(w.maxPerCustomer <= 4, `week ${w.week}: ${w.maxPerCustomer}`);
  // Cost is the channels' price times what they sent (email 0.05, sms 3.5, telegram 0, call 60).
  const price: Record<string, number> = { email: 0.05, sms: 3.5, telegram: 0, call: 60 };
  for (const c of first.channels)
    assert.ok(Math.abs(c.cost - c.sent * (price[c.channel] ?? 0)) < 1e-6, c.channel);
  const entered = sum(first.scenarios.map((s) => s.entries));
  assert.ok(entered > 0);
  assert.equal(sum(first.scenarios.map((s) => s.sent)), first.messages.sent);

  const again = simulateJson(args);
  assert.deepEqual(again, first, "the same command twice gives the same report");

  const text = tact(["strategy", "simulate", ...args]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /Messages sent per customer per week, by channel/);
  assert.match(text.stdout, /Suppressed, by reason/);
  for (const s of first.suppressions) assert.match(text.stdout, new RegExp(`${s.reason}\\s+${s.count}\\b`));
  assert.match(text.stdout, new RegExp(`^all\\s+${first.messages.sent}\\b`, "m"));
  assert.match(text.stdout, /welcome\s+\d+/);
});

test("a tight frequency cap shows as frequency_capped suppressions and the customers it held back", () => {
  const file = join(dir, "tight.yaml");
  writeFileSync(file, TIGHT);
  const r = simulateJson([file, "--customers", "120", "--days", "7"]);
  const capped = r.suppressions.find((s) => s.reason === "frequency_capped");
  assert.ok(capped && capped.count > 0, JSON.stringify(r.suppressions));
  assert.ok(r.caps.customers > 0);
  assert.equal(r.caps.suppressions, capped.count);
  const top = r.caps.top[0];
  assert.ok(top, "the customers hitting the cap are listed");
  assert.equal(top.capped, 2, "three parts a day apart, one allowed per week: two capped");
  assert.equal(top.sent, 1);
  const series = r.scenarios.find((s) => s.scenario === "course_series");
  assert.equal(series?.sent, r.caps.customers, "everyone who got part 1 had parts 2 and 3 capped");
  for (const w of r.weeks) assert.ok(w.maxPerCustomer <= 1, "the cap holds");
});

test("wrong usage exits 2 before any work", () => {
  const both = tact(["strategy", "simulate", SCHOOL, "--from-db", "--customers", "5"]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--customers .*--from-db/);
  const step = tact(["strategy", "simulate", SCHOOL, "--step", "1s"]);
  assert.equal(step.code, 2);
  const missing = tact(["strategy", "simulate", join(dir, "absent.yaml")]);
  assert.equal(missing.code, 2);
  const noDb = tact(["strategy", "simulate", SCHOOL, "--from-db"]);
  assert.equal(noDb.code, 2);
  assert.match(noDb.stderr, /no database/);
});

const TABLES = [
  "workspaces",
  "customers",
  "identities",
  "events",
  "strategy_versions",
  "memberships",
  "scenario_entries",
  "messages",
  "engine_inbox",
];

async function counts(db: Db): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of TABLES) {
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`);
    out[t] = rows[0]?.n ?? -1;
  }
  return out;
}

test("--from-db simulates a copy of the workspace and leaves the configured database unchanged", async () => {
  let pgDb: TestDb | undefined;
  let env: NodeJS.ProcessEnv;
  let open: () => Promise<Db>;
  if (process.env.TACT_TEST_DATABASE_URL) {
    const t = await testDb();
    pgDb = t;
    env = { DATABASE_URL: t.url };
    open = async () => t.db;
  } else {
    const dataDir = join(dir, "data");
    env = { TACT_DATA_DIR: dataDir };
    open = () => openDb({ dataDir });
  }
  try {
    let db = await open();
    await migrate(db);
    const ws = await createWorkspace(db, "school");
    const start = new Date(PROMO_WEEK);
    await loadSynthetic(db, ws.id, generate({ customers: 80, seed: 7, now: start }));
    const before = await counts(db);
    if (!pgDb) await db.close(); // the embedded database belongs to one process at a time
    const args = [SCHOOL, "--from-db", "--workspace", "school", "--days", "7", "--start", PROMO_WEEK];
    const r = simulateJson(args, env);
    db = await open();
    assert.deepEqual(await counts(db), before, "not one row of the configured database changed");
    assert.equal(r.base.kind, "copy");
    if (r.base.kind !== "copy") return;
    assert.equal(r.base.copied.customers, before.customers);
    assert.equal(r.base.copied.identities, before.identities);
    assert.ok(r.base.copied.events > 0 && r.base.copied.events < (before.events ?? 0), "only what it reads");
    assert.equal(r.customers.atStart, before.customers);
    assert.equal(r.events.simulated, 0, "a copy has no invented activity");
    const promo = r.scenarios.find((s) => s.scenario === "spring_promo");
    assert.ok(promo && promo.entries > 0, "the scheduled promotion reaches the copied customers");
    if (!pgDb) await db.close();
    const unknown = tact(
      ["strategy", "simulate", SCHOOL, "--from-db", "--workspace", "nope", "--days", "1"],
      env,
    );
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no workspace nope/);
  } finally {
    await pgDb?.close();
  }
});

const TIGHT = `version: 1
name: Tight caps
timezone: Europe/Moscow
currency: RUB
goals:
  purchase: { event: order_completed, window: 14d, target: 5% }
channels:
  email: { provider: smtp, from: "School <hello@school.example>", cost: 0.05 }
  telegram: { provider: telegram, cost: 0 }
rules:
  consent: opt_out
  frequency:
    - { max: 1, per: 7d }
  control_group: 0%
stages:
  lead: "reachable"
  visitor: "true"
scenarios:
  course_series:
    goal: purchase
    audience: "stage == 'lead'"
    trigger: { schedule: { at: "2027-03-16 12:00" } }
    steps:
      - send: part_1
        via: [telegram, email]
      - wait: 1d
      - send: part_2
        via: [telegram, email]
      - wait: 1d
      - send: part_3
        via: [telegram, email]
templates:
  part_1:
    email: { subject: "Part 1", text: "The first part. Unsubscribe: {{ unsubscribe_url }}" }
    telegram: { text: "The first part of the course" }
  part_2:
    email: { subject: "Part 2", text: "The second part. Unsubscribe: {{ unsubscribe_url }}" }
    telegram: { text: "The second part of the course" }
  part_3:
    email: { subject: "Part 3", text: "The third part. Unsubscribe: {{ unsubscribe_url }}" }
    telegram: { text: "The third part of the course" }
`;
