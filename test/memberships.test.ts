// Segments and stages kept current: on a virtual clock, with events arriving and time passing (windows dropping
// old orders, "days since last order" crossing a threshold with no event), the memberships kept in real time by
// the refresher always equal a full recompute, and every change is recorded as an event.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { VirtualClock } from "../src/core/clock.ts";
import { type Expr, parseCondition } from "../src/core/condition/index.ts";
import { buildMembershipModel, type MembershipModel } from "../src/engine/membership-model.ts";
import { MembershipRefresher } from "../src/engine/membership-refresher.ts";
import { recomputeMemberships } from "../src/engine/recompute.ts";
import { applyStrategy, recomputeWorkspace } from "../src/engine/strategy-runtime.ts";
import { ingestMessages } from "../src/ingest/ingest.ts";
import { compileSelection } from "../src/store/condition-sql.ts";
import { withTransaction } from "../src/store/db.ts";
import { membershipHistory } from "../src/store/memberships.ts";
import { createWorkspace, type Workspace } from "../src/store/workspaces.ts";
import { type TestDb, testDb } from "./helpers.ts";

const DAY = 86_400_000;
const HOUR = 3_600_000;

function cond(source: string): Expr {
  const r = parseCondition(source);
  if (!r.ok) throw new Error(`${source}: ${r.errors.map((e) => e.message).join("; ")}`);
  return r.ast;
}

const SEGMENTS: [string, string][] = [
  ["recent_buyers", "count(order_completed, 30d) >= 1"],
  ["big_spenders", "sum(order_completed.properties.revenue, 60d) > 150"],
  ["browsers", "count(page where properties.section == 'courses', 7d) >= 2"],
  ["quiet", "days_since_last_seen > 10"],
  ["vip_recent", "segment('big_spenders') and segment('recent_buyers')"],
  ["gmail", "email ends_with '@gmail.com'"],
  ["in_repeat_stage", "stage == 'repeat'"],
];
const STAGES: [string, string][] = [
  ["lapsed", "orders >= 1 and days_since_last_order > 45"],
  ["at_risk", "orders >= 1 and days_since_last_order > 20"],
  ["repeat", "orders >= 2"],
  ["first_buyer", "orders == 1"],
  ["lead", "reachable"],
  ["visitor", "true"],
];

let t: TestDb;
let ws: Workspace;
let model: MembershipModel;
const clock = new VirtualClock("2026-03-01T10:00:00Z");

before(async () => {
  t = await testDb();
  ws = await createWorkspace(t.db, "memberships");
  model = buildMembershipModel(
    1,
    { email: "email", sms: "phone" },
    SEGMENTS.map(([n, s]) => [n, cond(s)] as const),
    STAGES.map(([n, s]) => [n, cond(s)] as const),
  );
});
after(() => t.close());

/** A deterministic PRNG so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

async function send(messages: object[]): Promise<void> {
  const r = await ingestMessages(t.db, ws, messages, { receivedAt: clock.now() });
  assert.deepEqual(r.rejected, []);
}

async function kept(): Promise<Set<string>> {
  const { rows } = await t.db.pool.query<{ customer_id: string; kind: string; name: string }>(
    "SELECT customer_id, kind, name FROM memberships WHERE workspace_id = $1 AND left_at IS NULL",
    [ws.id],
  );
  return new Set(rows.map((r) => `${r.customer_id} ${r.kind} ${r.name}`));
}

async function recomputed(): Promise<Set<string>> {
  const q = compileSelection({
    workspaceId: ws.id,
    now: clock.now(),
    env: model.env,
    conditions: model.segments.map((s) => s.conditions[0] as Expr),
    withStage: true,
    withNextChange: false,
  });
  const { rows } = await t.db.pool.query<
    Record<string, unknown> & { customer_id: string; stage: string | null }
  >(q.text, q.values);
  const out = new Set<string>();
  for (const r of rows) {
    model.segments.forEach((s, i) => {
      if (r[`c${i}`] === true) out.add(`${r.customer_id} segment ${s.segment}`);
    });
    if (r.stage !== null) out.add(`${r.customer_id} stage ${r.stage}`);
  }
  return out;
}

function randomMessage(rand: () => number, people: number): object {
  const user = `u${Math.floor(rand() * people)}`;
  const at = new Date(clock.now().getTime() - Math.floor(rand() * 2 * HOUR)).toISOString();
  const pick = rand();
  if (pick < 0.3)
    return {
      type: "track",
      userId: user,
      event: "order_completed",
      timestamp: at,
      properties: { revenue: Math.floor(rand() * 120) },
    };
  if (pick < 0.7)
    return {
      type: "page",
      userId: user,
      timestamp: at,
      properties: { section: rand() < 0.6 ? "courses" : "blog" },
    };
  if (pick < 0.85)
    return {
      type: "identify",
      userId: user,
      timestamp: at,
      traits: { email: `${user}@${rand() < 0.5 ? "gmail.com" : "example.org"}` },
    };
  return { type: "track", userId: user, event: "lesson_viewed", timestamp: at };
}

test("memberships kept in real time equal a full recompute at every moment, as events arrive and time passes", async () => {
  const refresher = new MembershipRefresher(t.db, async () => model, clock, { batchSize: 7 });
  const rand = prng(20261122);
  await send(Array.from({ length: 40 }, () => randomMessage(rand, 25)));
  await withTransaction(t.db, (c) =>
    recomputeMemberships(c, ws.id, model, clock.now(), { emitEvents: false }),
  );
  assert.deepEqual(await kept(), await recomputed());

  let changesSeen = 0;
  for (let step = 0; step < 60; step++) {
    // time passes: from minutes to weeks, so windows drop events and day counts cross their thresholds
    const r = rand();
    clock.advance(
      r < 0.4 ? Math.floor(rand() * 6 * HOUR) : r < 0.8 ? Math.floor(rand() * 5 * DAY) : 15 * DAY,
    );
    if (rand() < 0.6)
      await send(Array.from({ length: 1 + Math.floor(rand() * 6) }, () => randomMessage(rand, 25)));
    const before = await kept();
    await refresher.runOnce();
    const now = await kept();
    if (now.size !== before.size || [...now].some((k) => !before.has(k))) changesSeen++;
    assert.deepEqual(now, await recomputed(), `after step ${step} at ${clock.now().toISOString()}`);
  }
  // The walk must have exercised changes by time alone and by data, not a frozen picture.
  assert.ok(changesSeen >= 10, `only ${changesSeen} steps changed memberships`);
});

test("changes are recorded as events and as history with entry and exit times", async () => {
  await send([{ type: "identify", userId: "hist", traits: { email: "hist@gmail.com" } }]);
  const refresher = new MembershipRefresher(t.db, async () => model, clock);
  await refresher.runOnce();
  await send([{ type: "track", userId: "hist", event: "order_completed", properties: { revenue: 200 } }]);
  await refresher.runOnce();
  const { rows: ids } = await t.db.pool.query<{ customer_id: string }>(
    "SELECT customer_id FROM identities WHERE workspace_id = $1 AND kind = 'user' AND value = 'hist'",
    [ws.id],
  );
  const id = ids[0]?.customer_id as string;
  const stageEvents = await t.db.pool.query<{ properties: { from: string | null; to: string } }>(
    "SELECT properties FROM events WHERE workspace_id = $1 AND customer_id = $2 AND name = 'stage_changed' ORDER BY occurred_at",
    [ws.id, id],
  );
  assert.deepEqual(
    stageEvents.rows.map((r) => r.properties),
    [
      { from: null, to: "lead" },
      { from: "lead", to: "first_buyer" },
    ],
  );
  const entered = await t.db.pool.query<{ segment: string }>(
    "SELECT properties->>'segment' AS segment FROM events WHERE workspace_id = $1 AND customer_id = $2 AND name = 'segment_entered' ORDER BY 1",
    [ws.id, id],
  );
  assert.deepEqual(
    entered.rows.map((r) => r.segment),
    ["big_spenders", "gmail", "recent_buyers", "vip_recent"],
  );

  // 31 days later the order leaves the 30-day window with no new event: the customer leaves recent_buyers.
  clock.advance(31 * DAY);
  await refresher.runOnce();
  const history = await membershipHistory(t.db.pool, ws.id, id);
  const recent = history.find((h) => h.kind === "segment" && h.name === "recent_buyers");
  assert.ok(recent?.leftAt, "recent_buyers was left");
  assert.equal(recent.leftAt.getTime(), clock.now().getTime());
  const stage = history.find((h) => h.kind === "stage" && h.leftAt === null);
  assert.equal(stage?.name, "at_risk");
});

test("a new version that moves customers to other stages applies: each old stage closes before the new one opens", async () => {
  const w = await createWorkspace(t.db, "restage");
  const v1 = [
    "version: 1",
    "name: Restage",
    "timezone: UTC",
    "currency: USD",
    'channels: { email: { provider: smtp, from: "shop@example.com" } }',
    "stages:",
    '  vip: "orders >= 1"',
    '  buyer: "orders >= 1"',
    '  visitor: "orders == 0"',
  ].join("\n");
  const now = new Date();
  assert.ok((await applyStrategy(t.db, w.id, v1, "s.yaml", "test", now)).ok);
  const r = await ingestMessages(
    t.db,
    w,
    [
      { type: "track", userId: "paying", event: "Order Completed", properties: { revenue: 10 } },
      { type: "track", userId: "looking", event: "Product Viewed" },
    ],
    { receivedAt: now },
  );
  assert.equal(r.accepted, 2);
  assert.equal((await recomputeWorkspace(t.db, w.id, now))?.stageChanges, 2);
  const v2 = v1.replace('  vip: "orders >= 1"\n', "");
  const applied = await applyStrategy(t.db, w.id, v2, "s.yaml", "test", new Date(now.getTime() + 1000));
  assert.ok(applied.ok, JSON.stringify(!applied.ok && applied.diagnostics));
  const { rows } = await t.db.pool.query<{ user_id: string; name: string; open: boolean }>(
    `SELECT c.user_id, m.name, m.left_at IS NULL AS open FROM memberships m JOIN customers c USING (workspace_id, customer_id)
      WHERE m.workspace_id = $1 AND m.kind = 'stage' ORDER BY c.user_id, m.entered_at`,
    [w.id],
  );
  assert.deepEqual(
    rows.map((x) => `${x.user_id} ${x.name} ${x.open ? "open" : "closed"}`),
    ["looking visitor open", "paying vip closed", "paying buyer open"],
  );
});

test("a recompute finds every change among 70 segments (two mask words) and closes a segment the new version dropped", async () => {
  const w = await createWorkspace(t.db, "many-segments");
  const segments = Array.from({ length: 70 }, (_, i) => `  s${i}: "traits.k == ${i}"`);
  const doc = (list: string[]) =>
    [
      "version: 1",
      "name: Many",
      "timezone: UTC",
      "currency: USD",
      'channels: { email: { provider: smtp, from: "shop@example.com" } }',
      "segments:",
      ...list,
    ].join("\n");
  const now = new Date("2026-03-01T10:00:00Z");
  const ks = [0, 5, 62, 63, 64, 69];
  const identify = (k: number, at: Date) =>
    ingestMessages(t.db, w, [{ type: "identify", userId: `u${k}`, traits: { k } }], { receivedAt: at });
  for (const k of ks) await identify(k, now);
  assert.ok((await applyStrategy(t.db, w.id, doc(segments), "s.yaml", "test", now)).ok);
  const open = async () => {
    const { rows } = await t.db.pool.query<{ user_id: string; name: string }>(
      `SELECT c.user_id, m.name FROM memberships m JOIN customers c USING (workspace_id, customer_id)
        WHERE m.workspace_id = $1 AND m.kind = 'segment' AND m.left_at IS NULL ORDER BY 1, 2`,
      [w.id],
    );
    return rows.map((r) => `${r.user_id} ${r.name}`);
  };
  assert.deepEqual(await open(), ["u0 s0", "u5 s5", "u62 s62", "u63 s63", "u64 s64", "u69 s69"]);
  // Customers move across the two words of the mask (62 → 64, 64 → 63) and within the second (69 → 66).
  const later = new Date(now.getTime() + 60_000);
  await ingestMessages(
    t.db,
    w,
    [
      { type: "identify", userId: "u62", traits: { k: 64 } },
      { type: "identify", userId: "u64", traits: { k: 63 } },
      { type: "identify", userId: "u69", traits: { k: 66 } },
    ],
    { receivedAt: later },
  );
  const r = await recomputeWorkspace(t.db, w.id, later);
  assert.deepEqual(r && { entered: r.entered, left: r.left }, { entered: 3, left: 3 });
  assert.deepEqual(await open(), ["u0 s0", "u5 s5", "u62 s64", "u63 s63", "u64 s63", "u69 s66"]);
  // A new version without s5: its members leave it; nobody else changes.
  const applied = await applyStrategy(
    t.db,
    w.id,
    doc(segments.filter((s) => !s.startsWith("  s5:"))),
    "s.yaml",
    "test",
    new Date(later.getTime() + 1000),
  );
  assert.ok(applied.ok, JSON.stringify(!applied.ok && applied.diagnostics));
  assert.deepEqual(
    { entered: applied.recompute.entered, left: applied.recompute.left },
    { entered: 0, left: 1 },
  );
  assert.deepEqual(await open(), ["u0 s0", "u62 s64", "u63 s63", "u64 s63", "u69 s66"]);
});
