// Scenarios run on a virtual clock: triggers enter customers (once, or again after the re-entry interval, only
// when the audience holds), waits (a duration, a local time of day, an event with a timeout), branches, splits and
// exit conditions move them along, the goal ends the journey, and a new version leaves running customers on theirs.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { VirtualClock } from "../src/core/clock.ts";
import { MembershipRefresher } from "../src/engine/membership-refresher.ts";
import { ScenarioRunner } from "../src/engine/scenario-runner.ts";
import { StrategyCache, strategyModels } from "../src/engine/strategy-cache.ts";
import { applyStrategy } from "../src/engine/strategy-runtime.ts";
import { ingestMessages } from "../src/ingest/ingest.ts";
import { createWorkspace, type Workspace } from "../src/store/workspaces.ts";
import { type TestDb, testDb } from "./helpers.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const STRATEGY = `version: 1
name: School
timezone: Europe/Berlin
currency: EUR
goals:
  first_purchase: { event: order_completed, window: 14d, target: 8% }
channels:
  email: { provider: smtp, from: "School <s@example.com>", cost: 0.01 }
stages:
  buyer: "orders >= 1"
  lead: "reachable.email"
  visitor: "true"
segments:
  engaged: "count(lesson_viewed, 7d) >= 2"
scenarios:
  welcome:
    goal: first_purchase
    audience: "stage == 'lead'"
    trigger: { event: signed_up, where: "not (properties.plan == 'b2b')" }
    steps:
      - send: welcome
        via: [email]
      - wait: 2d
      - branch:
          - if: "count(lesson_viewed, since_entry) >= 1"
            steps:
              - send: keep_going
                via: [email]
        else:
          - send: nudge
            via: [email]
      - wait: { until: "10:00" }
      - send: offer
        via: [email]
  engaged_users:
    goal: first_purchase
    trigger: { segment_entered: engaged }
    reentry: 10d
    steps:
      - wait: { event: quiz_done, timeout: 3d }
      - exit_if: "count(quiz_done, since_entry) == 0"
      - send: quiz_thanks
        via: [email]
  promo_split:
    goal: first_purchase
    trigger: { event: promo_seen }
    reentry: 1h
    steps:
      - split:
          - percent: 30%
            steps:
              - send: promo_a
                via: [email]
          - percent: 70%
            steps:
              - send: promo_b
                via: [email]
  trial:
    goal: first_purchase
    trigger: { event: trial_started }
    exit_if: "count(trial_cancelled, since_entry) >= 1"
    steps:
      - send: trial_day0
        via: [email]
      - wait: 1d
      - send: trial_day1
        via: [email]
  digest:
    goal: first_purchase
    audience: "traits.digest exists"
    trigger: { schedule: { every: monday, time: "10:00" } }
    reentry: 1d
    steps:
      - send: digest
        via: [email]
templates:
  welcome: { email: { subject: "Welcome", html: "<p>Hi</p>" } }
  keep_going: { email: { subject: "Keep going", html: "<p>Hi</p>" } }
  nudge: { email: { subject: "Start a lesson", html: "<p>Hi</p>" } }
  offer: { email: { subject: "Offer", html: "<p>Hi</p>" } }
  quiz_thanks: { email: { subject: "Thanks", html: "<p>Hi</p>" } }
  promo_a: { email: { subject: "A", html: "<p>Hi</p>" } }
  promo_b: { email: { subject: "B", html: "<p>Hi</p>" } }
  trial_day0: { email: { subject: "Day 0", html: "<p>Hi</p>" } }
  trial_day1: { email: { subject: "Day 1", html: "<p>Hi</p>" } }
  digest: { email: { subject: "Digest", html: "<p>Hi</p>" } }
`;

let t: TestDb;
let ws: Workspace;
const clock = new VirtualClock("2026-03-02T08:00:00Z"); // a Monday, 09:00 in Berlin
const cache = new StrategyCache();
let runner: ScenarioRunner;
let refresher: MembershipRefresher;

before(async () => {
  t = await testDb();
  ws = await createWorkspace(t.db, "school");
  const r = await applyStrategy(t.db, ws.id, STRATEGY, "school.yaml", "test", clock.now());
  assert.ok(r.ok, JSON.stringify(!r.ok && r.diagnostics));
  runner = new ScenarioRunner(t.db, cache);
  refresher = new MembershipRefresher(t.db, strategyModels(), clock);
});
after(() => t.close());

async function send(messages: object[]): Promise<void> {
  const r = await ingestMessages(t.db, ws, messages, { receivedAt: clock.now() });
  assert.deepEqual(r.rejected, []);
  await tick();
}

async function tick(): Promise<void> {
  await refresher.runOnce(clock.now());
  await runner.runOnce(clock.now());
}

async function advance(ms: number): Promise<void> {
  clock.advance(ms);
  await tick();
}

async function messagesOf(
  userId: string,
): Promise<{ scenario: string; template: string; fate: string; planned_at: Date }[]> {
  const { rows } = await t.db.pool.query(
    `SELECT m.scenario, m.template, m.fate, m.planned_at FROM messages m
       JOIN identities i ON i.workspace_id = m.workspace_id AND i.customer_id = m.customer_id
      WHERE i.workspace_id = $1 AND i.kind = 'user' AND i.value = $2 ORDER BY m.planned_at, m.message_id`,
    [ws.id, userId],
  );
  return rows;
}

async function entriesOf(
  userId: string,
): Promise<{ scenario: string; state: string; exit_reason: string | null }[]> {
  const { rows } = await t.db.pool.query(
    `SELECT e.scenario, e.state, e.exit_reason FROM scenario_entries e
       JOIN identities i ON i.workspace_id = e.workspace_id AND i.customer_id = e.customer_id
      WHERE i.workspace_id = $1 AND i.kind = 'user' AND i.value = $2 ORDER BY e.entry_id`,
    [ws.id, userId],
  );
  return rows;
}

test("a trigger enters a lead once; waits, a branch and a local time of day lead to the right messages", async () => {
  await send([{ type: "identify", userId: "ann", traits: { email: "ann@example.com" } }]);
  await send([{ type: "track", userId: "ann", event: "signed_up", properties: { plan: "basic" } }]);
  await send([{ type: "track", userId: "ann", event: "signed_up", properties: { plan: "basic" } }]);
  assert.deepEqual(
    (await messagesOf("ann")).map((m) => m.template),
    ["welcome"],
  );
  assert.equal((await entriesOf("ann")).length, 1, "entered once although triggered twice");

  await advance(DAY);
  await send([{ type: "track", userId: "ann", event: "lesson_viewed" }]);
  await advance(DAY); // the 2-day wait is over: Ann viewed a lesson since entry
  assert.deepEqual(
    (await messagesOf("ann")).map((m) => m.template),
    ["welcome", "keep_going"],
  );

  // then wait until 10:00 Berlin time: it is 09:00 there (08:00 UTC), so 10:00 local is in an hour
  await advance(30 * 60_000);
  assert.equal((await messagesOf("ann")).length, 2);
  await advance(31 * 60_000);
  const all = await messagesOf("ann");
  assert.deepEqual(
    all.map((m) => m.template),
    ["welcome", "keep_going", "offer"],
  );
  assert.equal(all[2]?.planned_at.toISOString(), "2026-03-04T09:01:00.000Z");
  assert.deepEqual(await entriesOf("ann"), [{ scenario: "welcome", state: "completed", exit_reason: null }]);
});

test("the audience is checked at entry and the trigger's filter applies", async () => {
  await send([{ type: "track", userId: "vic", event: "signed_up", properties: { plan: "basic" } }]); // no email: a visitor
  await send([{ type: "identify", userId: "bea", traits: { email: "bea@example.com" } }]);
  await send([{ type: "track", userId: "bea", event: "signed_up", properties: { plan: "b2b" } }]);
  assert.deepEqual(await entriesOf("vic"), []);
  assert.deepEqual(await entriesOf("bea"), []);
});

test("reaching the goal ends the journey; a segment trigger with a wait for an event and a timeout", async () => {
  await send([{ type: "identify", userId: "cid", traits: { email: "cid@example.com" } }]);
  await send([{ type: "track", userId: "cid", event: "signed_up" }]);
  await advance(HOUR);
  await send([{ type: "track", userId: "cid", event: "order_completed", properties: { revenue: 50 } }]);
  assert.deepEqual(await entriesOf("cid"), [
    { scenario: "welcome", state: "goal_reached", exit_reason: "goal reached" },
  ]);
  assert.deepEqual(
    (await messagesOf("cid")).map((m) => m.template),
    ["welcome"],
  );

  // Two lessons enter the 'engaged' segment, which triggers engaged_users; the quiz comes within the timeout.
  await send([
    { type: "track", userId: "dan", event: "lesson_viewed" },
    { type: "track", userId: "dan", event: "lesson_viewed" },
  ]);
  assert.equal((await entriesOf("dan"))[0]?.scenario, "engaged_users");
  await advance(HOUR);
  await send([{ type: "track", userId: "dan", event: "quiz_done" }]);
  assert.deepEqual(
    (await messagesOf("dan")).map((m) => m.template),
    ["quiz_thanks"],
  );

  // Eve never does the quiz: after the 3-day timeout the exit condition ends her journey without a message.
  await send([
    { type: "track", userId: "eve", event: "lesson_viewed" },
    { type: "track", userId: "eve", event: "lesson_viewed" },
  ]);
  await advance(3 * DAY + HOUR);
  assert.deepEqual(await messagesOf("eve"), []);
  assert.equal((await entriesOf("eve"))[0]?.state, "exited");
});

test("a new version leaves customers who are mid-journey on the version they entered with", async () => {
  await send([{ type: "identify", userId: "fay", traits: { email: "fay@example.com" } }]);
  await send([{ type: "track", userId: "fay", event: "signed_up" }]);
  const v2 = STRATEGY.replace("- wait: 2d", "- wait: 1h").replace("send: nudge", "send: offer");
  const r = await applyStrategy(t.db, ws.id, v2, "school.yaml", "test", clock.now());
  assert.ok(r.ok);
  await advance(2 * HOUR); // v2 would have sent already; fay waits the 2 days of v1
  assert.deepEqual(
    (await messagesOf("fay")).map((m) => m.template),
    ["welcome"],
  );
  await advance(2 * DAY);
  assert.deepEqual(
    (await messagesOf("fay")).map((m) => m.template),
    ["welcome", "nudge"],
  );
  // a newcomer runs v2
  await send([{ type: "identify", userId: "gus", traits: { email: "gus@example.com" } }]);
  await send([{ type: "track", userId: "gus", event: "signed_up" }]);
  await advance(2 * HOUR);
  assert.deepEqual(
    (await messagesOf("gus")).map((m) => m.template),
    ["welcome", "offer"],
  );
});

test("a one-off broadcast reaches each customer at the same local time in their own time zone", async () => {
  await send([
    {
      type: "identify",
      userId: "nyc",
      traits: { email: "nyc@example.com" },
      context: { timezone: "America/New_York" },
    },
    {
      type: "identify",
      userId: "ber",
      traits: { email: "ber@example.com" },
      context: { timezone: "Europe/Berlin" },
    },
  ]);
  const day = new Date(clock.now().getTime() + 2 * DAY).toISOString().slice(0, 10);
  const withBroadcast = STRATEGY.replace(
    "templates:",
    `  spring_sale:
    goal: first_purchase
    audience: "email ends_with '@example.com' and (user_id == 'nyc' or user_id == 'ber')"
    trigger: { schedule: { at: "${day} 10:00" } }
    steps:
      - send: offer
        via: [email]
templates:`,
  );
  const r = await applyStrategy(t.db, ws.id, withBroadcast, "school.yaml", "test", clock.now());
  assert.ok(r.ok, JSON.stringify(!r.ok && r.diagnostics));
  clock.set(new Date(`${day}T00:00:00Z`));
  for (let h = 0; h < 24; h++) await advance(HOUR);
  const at = async (u: string) =>
    (await messagesOf(u)).filter((m) => m.scenario === "spring_sale").map((m) => m.planned_at.toISOString());
  assert.deepEqual(await at("ber"), [`${day}T09:00:00.000Z`]);
  assert.deepEqual(await at("nyc"), [`${day}T14:00:00.000Z`]); // New York is on summer time since 8 March
});

test("a split sends each arm its share, and a customer who comes back gets the same arm", async () => {
  const users = Array.from({ length: 200 }, (_, i) => `split${i}`);
  const seen = () => users.map((u) => ({ type: "track", userId: u, event: "promo_seen" }));
  await send(seen());
  const first = new Map<string, string>();
  for (const u of users) first.set(u, (await messagesOf(u)).map((m) => m.template).join());
  const a = [...first.values()].filter((t) => t === "promo_a").length;
  const b = [...first.values()].filter((t) => t === "promo_b").length;
  assert.equal(a + b, users.length, "each customer got exactly one arm's message");
  // 30% of 200 is 60, with a standard deviation of 6.5: far outside [35, 85] only if the split is broken
  assert.ok(a >= 35 && a <= 85, `arm a got ${a} of 200`);
  await advance(2 * HOUR); // past the re-entry interval
  await send(seen());
  for (const u of users) {
    const again = (await messagesOf(u)).map((m) => m.template);
    assert.deepEqual(again, [first.get(u), first.get(u)], `${u} keeps their arm`);
  }
});

test("a scenario's exit condition is checked before every step", async () => {
  await send([
    { type: "identify", userId: "quits", traits: { email: "quits@example.com" } },
    { type: "identify", userId: "keeps", traits: { email: "keeps@example.com" } },
    { type: "track", userId: "quits", event: "trial_started" },
    { type: "track", userId: "keeps", event: "trial_started" },
  ]);
  await advance(HOUR);
  await send([{ type: "track", userId: "quits", event: "trial_cancelled" }]);
  await advance(DAY);
  assert.deepEqual(
    (await messagesOf("quits")).map((m) => m.template),
    ["trial_day0"],
  );
  assert.deepEqual(await entriesOf("quits"), [
    { scenario: "trial", state: "exited", exit_reason: "exit condition" },
  ]);
  assert.deepEqual(
    (await messagesOf("keeps")).map((m) => m.template),
    ["trial_day0", "trial_day1"],
  );
});

test("a weekly schedule enters its audience every Monday at 10:00 their time, across a change to summer time", async () => {
  // a Friday at midnight UTC; the occurrences the clock jumped over are taken up before the reader signs up
  clock.set(new Date("2026-03-20T00:00:00Z"));
  await tick();
  await send([
    { type: "identify", userId: "reader", traits: { email: "reader@example.com", digest: "weekly" } },
  ]);
  const start = clock.now().getTime();
  for (let h = 0; h < 24 * 28; h++) await advance(HOUR);
  const planned = (await messagesOf("reader"))
    .filter((m) => m.template === "digest")
    .map((m) => m.planned_at);
  const local = (d: Date) =>
    new Intl.DateTimeFormat("en-GB", {
      timeZone: "Europe/Berlin",
      weekday: "long",
      hour: "2-digit",
      minute: "2-digit",
    }).format(d);
  // 23 March at 09:00 UTC; then summer time from 29 March: 30 March, 6 and 13 April at 08:00 UTC
  assert.deepEqual(
    planned.map((d) => d.toISOString()),
    [
      "2026-03-23T09:00:00.000Z",
      "2026-03-30T08:00:00.000Z",
      "2026-04-06T08:00:00.000Z",
      "2026-04-13T08:00:00.000Z",
    ],
  );
  for (const d of planned) assert.equal(local(d), "Monday 10:00", d.toISOString());
  assert.ok(planned.every((d) => d.getTime() > start));
});

test("a clock moved on by weeks takes up only the latest occurrence it passed, not each one", async () => {
  await send([{ type: "identify", userId: "late", traits: { email: "late@example.com", digest: "weekly" } }]);
  const before = (await messagesOf("reader")).length;
  clock.set(new Date("2026-05-06T12:00:00Z")); // three Mondays later (20 and 27 April, 4 May)
  await tick();
  const digests = async (u: string) => (await messagesOf(u)).filter((m) => m.template === "digest");
  assert.equal((await messagesOf("reader")).length, before + 1, "one digest for the three Mondays missed");
  const { rows } = await t.db.pool.query(
    "SELECT last_date, next_date FROM scenario_schedules WHERE workspace_id = $1 AND scenario = 'digest'",
    [ws.id],
  );
  // the audience was selected once, for the latest Monday passed, not once for each
  assert.deepEqual(rows, [{ last_date: "2026-05-04", next_date: "2026-05-11" }]);
  assert.deepEqual(
    (await digests("late")).map((m) => m.planned_at.toISOString()),
    ["2026-05-06T12:00:00.000Z"],
  );
  for (let h = 0; h < 6 * 24; h++) await advance(HOUR); // hour by hour past the next Monday's 10:00 in Berlin
  assert.deepEqual((await digests("late")).map((m) => m.planned_at.toISOString()).slice(1), [
    "2026-05-11T08:00:00.000Z",
  ]);
});
