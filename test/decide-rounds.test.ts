// Decide rounds with the real claim and locks: a channel's capacity holds with two workers deciding at once (while
// one round that took the last free slot is still open, another round of the same workspace waits for it and then
// defers its message; on the embedded database the pool's one connection runs the rounds one after the other,
// which must give the same fates), and a customer's messages due together are judged in one round, by priority,
// even when the round's limit falls between them or another round holds the customer.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { VirtualClock } from "../src/core/clock.ts";
import { decideDueMessages } from "../src/engine/outbox-decide.ts";
import { ScenarioRunner } from "../src/engine/scenario-runner.ts";
import { StrategyCache } from "../src/engine/strategy-cache.ts";
import { applyStrategy } from "../src/engine/strategy-runtime.ts";
import { ingestMessages } from "../src/ingest/ingest.ts";
import { withTransaction } from "../src/store/db.ts";
import { lockDecisions } from "../src/store/decision-locks.ts";
import { createWorkspace, type Workspace } from "../src/store/workspaces.ts";
import { backend, type TestDb, testDb } from "./helpers.ts";

/** A strategy with one goal, `paid`, and the rest as given. */
const strategy = (name: string, rest: string) => `version: 1
name: ${name}
timezone: Europe/Berlin
currency: EUR
goals:
  paid: { event: order_completed, window: 1d, target: 10% }
${rest}`;

const RECEIPTS = strategy(
  "Receipts",
  `channels:
  desk: { provider: sink, contact: email, cost: 1, capacity: 1/day }
scenarios:
  receipt:
    kind: transactional
    goal: paid
    trigger: { event: signed_up }
    steps:
      - send: note
        via: [desk]
templates:
  note: { desk: { text: "Welcome" } }
`,
);

// two marketing scenarios started by one event, planned in this order: the lower priority first
const PROMOS = strategy(
  "Promos",
  `channels:
  inbox: { provider: sink, contact: email, cost: 0 }
rules:
  consent: opt_out
  frequency:
    - { max: 1, per: 1d }
  control_group: 0%
scenarios:
  newsletter:
    goal: paid
    priority: 30
    trigger: { event: signed_up }
    steps:
      - send: note
        via: [inbox]
  vip:
    goal: paid
    priority: 80
    trigger: { event: signed_up }
    steps:
      - send: note
        via: [inbox]
templates:
  note: { inbox: { text: "Hello" } }
`,
);

const clock = new VirtualClock("2026-03-02T10:00:00Z"); // 11:00 in Berlin
let t: TestDb;

before(async () => {
  t = await testDb();
});

after(() => t.close());

/** A workspace under `source` whose `users` signed up now, their messages planned and not yet decided. */
async function plannedFor(name: string, source: string, users: string[]): Promise<Workspace> {
  const ws = await createWorkspace(t.db, name);
  const r = await applyStrategy(t.db, ws.id, source, `${name}.yaml`, "test", clock.now());
  assert.ok(r.ok, JSON.stringify(!r.ok && r.diagnostics));
  const at = clock.now().toISOString();
  const ingested = await ingestMessages(
    t.db,
    ws,
    users.flatMap((u) => [
      { type: "identify", userId: u, traits: { email: `${u}@example.com` }, timestamp: at },
      { type: "track", userId: u, event: "signed_up", timestamp: at },
    ]),
    { receivedAt: clock.now() },
  );
  assert.deepEqual(ingested.rejected, []);
  await new ScenarioRunner(t.db, new StrategyCache()).runOnce(clock.now());
  return ws;
}

test("two rounds deciding at once give the channel's one daily slot to one message", async () => {
  const ws = await plannedFor("desk", RECEIPTS, ["a", "b"]);
  const planned = await t.db.pool.query(
    "SELECT count(*)::int AS n FROM messages WHERE workspace_id = $1 AND fate = 'planned'",
    [ws.id],
  );
  assert.equal(planned.rows[0]?.n, 2);
  const first = await t.db.pool.connect();
  let second: Promise<number> | undefined;
  try {
    await first.query("BEGIN");
    assert.equal(await decideDueMessages(first, new StrategyCache(), clock.now(), 1), 1);
    // the first round holds its slot, uncommitted, while the second decides
    second = withTransaction(t.db, (c) => decideDueMessages(c, new StrategyCache(), clock.now(), 1));
    await sleep(300);
    await first.query("COMMIT");
  } catch (err) {
    await first.query("ROLLBACK");
    throw err;
  } finally {
    first.release();
  }
  assert.equal(await second, 1);
  const { rows } = await t.db.pool.query(
    "SELECT fate, reason FROM messages WHERE workspace_id = $1 ORDER BY fate",
    [ws.id],
  );
  assert.deepEqual(
    rows.map((r) => r.fate),
    ["deferred", "queued"],
  );
  assert.equal(rows[0]?.reason, "capacity");
});

test("a round whose limit falls between a customer's due messages judges them all, the higher priority first", async () => {
  const ws = await plannedFor("promos", PROMOS, ["c"]);
  // a limit of one message: the claim takes the customer's other due message with it
  const n = await withTransaction(t.db, (c) => decideDueMessages(c, new StrategyCache(), clock.now(), 1));
  assert.equal(n, 2);
  const { rows } = await t.db.pool.query(
    "SELECT scenario, fate, reason FROM messages WHERE workspace_id = $1 ORDER BY scenario",
    [ws.id],
  );
  assert.deepEqual(
    rows.map((r) => [r.scenario, r.fate, r.fate === "suppressed" ? r.reason : null]),
    [
      ["newsletter", "suppressed", "frequency_capped"],
      ["vip", "queued", null],
    ],
  );
});

test("a round skips a customer another round holds, without waiting, and a later round judges all their messages", {
  skip: backend !== "postgres" && "an open transaction beside a round needs two connections",
}, async () => {
  const ws = await plannedFor("held", PROMOS, ["f", "g"]);
  const other = await t.db.pool.connect();
  try {
    // another round (a runner or a decide) holds f's decision lock
    const f = await t.db.pool.query<{ id: string }>(
      "SELECT customer_id AS id FROM customers WHERE workspace_id = $1 AND user_id = 'f'",
      [ws.id],
    );
    await other.query("BEGIN");
    await lockDecisions(other, [{ ws: ws.id, id: f.rows[0]?.id as string }]);
    const n = await withTransaction(t.db, (c) => decideDueMessages(c, new StrategyCache(), clock.now(), 10));
    assert.equal(n, 2, "g's two messages, none of f's");
  } finally {
    await other.query("ROLLBACK");
    other.release();
  }
  assert.equal(
    await withTransaction(t.db, (c) => decideDueMessages(c, new StrategyCache(), clock.now(), 1)),
    2,
  );
  const { rows } = await t.db.pool.query(
    `SELECT c.user_id, m.scenario, m.fate FROM messages m JOIN customers c USING (workspace_id, customer_id)
        WHERE m.workspace_id = $1 ORDER BY c.user_id, m.scenario`,
    [ws.id],
  );
  assert.deepEqual(
    rows.map((r) => [r.user_id, r.scenario, r.fate]),
    [
      ["f", "newsletter", "suppressed"],
      ["f", "vip", "queued"],
      ["g", "newsletter", "suppressed"],
      ["g", "vip", "queued"],
    ],
  );
});

// `via: best` reads six months of each customer's messages, opens and clicks by channel; other choices read none
const BEST = strategy(
  "Best",
  `channels:
  inbox: { provider: sink, contact: email, cost: 0 }
  texts: { provider: sink, contact: phone, cost: 0 }
rules:
  consent: opt_out
  control_group: 0%
  channel_order: [inbox, texts]
scenarios:
  hello:
    goal: paid
    trigger: { event: signed_up }
    steps:
      - send: note
        via: best
templates:
  note: { inbox: { text: "Hello" }, texts: { text: "Hello" } }
`,
);

test("via best chooses the channel the customer engages with, from the messages stored", async () => {
  const ws = await plannedFor("best", BEST, ["d", "e"]);
  await ingestMessages(
    t.db,
    ws,
    ["d", "e"].map((u) => ({ type: "identify", userId: u, traits: { phone: "+4915112345678" } })),
    { receivedAt: clock.now() },
  );
  // d opened three texts and none of three emails last month; e has no history, so the channel order decides
  await t.db.pool.query(
    `INSERT INTO messages (workspace_id, customer_id, scenario, entry_id, step_id, template, channel, fate,
                           planned_at, sent_at, updated_at)
     SELECT $1, c.customer_id, 'earlier', -g, 'send', 'note', CASE WHEN g <= 3 THEN 'texts' ELSE 'inbox' END,
            CASE WHEN g <= 3 THEN 'opened' ELSE 'sent' END, $2::timestamptz - interval '30 days',
            $2::timestamptz - interval '30 days', $2::timestamptz - interval '30 days'
       FROM customers c, generate_series(1, 6) g WHERE c.workspace_id = $1 AND c.user_id = 'd'`,
    [ws.id, clock.now()],
  );
  await withTransaction(t.db, (c) => decideDueMessages(c, new StrategyCache(), clock.now(), 10));
  const { rows } = await t.db.pool.query(
    `SELECT c.user_id, m.fate, m.channel, m.reason FROM messages m JOIN customers c USING (workspace_id, customer_id)
      WHERE m.workspace_id = $1 AND m.scenario = 'hello' ORDER BY c.user_id`,
    [ws.id],
  );
  assert.deepEqual(
    rows.map((r) => [r.user_id, r.fate, r.channel, r.reason]),
    [
      ["d", "queued", "texts", "engagement"],
      ["e", "queued", "inbox", "channel_order"],
    ],
  );
});
