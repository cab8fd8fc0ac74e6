// Kept outcomes (docs/metrics-tree.md, "Kept outcomes"): the outcome pass keeps each closed entry's conversion,
// revenue and cost on the entry, and the reports read them there. Whatever has been kept, a report gives the
// figures it gives when it measures everything live — after the pass, after a late order, a merge, a change of the
// goal — and it does read what was kept.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { keepOutcomes } from "../src/measure/kept-outcomes.ts";
import { metricsTree } from "../src/measure/metrics-tree.ts";
import { scenarioEffects } from "../src/measure/scenario-effect.ts";
import { mergeCustomers } from "../src/store/customers.ts";
import { withTransaction } from "../src/store/db.ts";
import { insertStrategyVersion } from "../src/store/strategies.ts";
import { createWorkspace } from "../src/store/workspaces.ts";
import { type TestDb, testDb } from "./helpers.ts";
import { NOW, PERIOD, STRATEGY, seedMetrics } from "./metrics-tree-seed.ts";

let t: TestDb;
let ws: number;

before(async () => {
  t = await testDb();
  ws = (await createWorkspace(t.db, "kept")).id;
  const other = await createWorkspace(t.db, "other");
  await seedMetrics(t.db, ws, other.id);
});

after(() => t?.close());

const YEAR = { from: new Date("2026-01-01T00:00:00Z"), to: PERIOD.to };
const effects = () => Promise.all([PERIOD, YEAR].map((p) => scenarioEffects(t.db, ws, p)));
const tree = () => metricsTree(t.db, ws, { ...PERIOD, now: NOW });

/** The same reports with nothing kept: everything measured from the events and messages. */
async function live() {
  const saved = await t.db.pool.query(
    `SELECT entry_id, kept_for, kept_all_for FROM scenario_entries WHERE workspace_id = $1`,
    [ws],
  );
  await t.db.pool.query(
    "UPDATE scenario_entries SET kept_for = NULL, kept_all_for = NULL WHERE workspace_id = $1",
    [ws],
  );
  const reports = { effects: await effects(), tree: await tree() };
  await t.db.pool.query(
    `UPDATE scenario_entries se SET kept_for = s.kept_for, kept_all_for = s.kept_all_for
       FROM json_to_recordset($2::json) AS s(entry_id bigint, kept_for bigint, kept_all_for bigint)
      WHERE se.workspace_id = $1 AND se.entry_id = s.entry_id`,
    [ws, JSON.stringify(saved.rows)],
  );
  return reports;
}

async function keptCount(): Promise<{ kept: number; all: number; dirt: number }> {
  const { rows } = await t.db.pool.query<{ kept: number; all: number; dirt: number }>(
    `SELECT count(*) FILTER (WHERE kept_for IS NOT NULL)::int AS kept,
            count(*) FILTER (WHERE kept_all_for IS NOT NULL)::int AS all,
            (SELECT count(*)::int FROM outcome_dirt WHERE workspace_id = $1) AS dirt
       FROM scenario_entries WHERE workspace_id = $1`,
    [ws],
  );
  const row = rows[0];
  assert.ok(row);
  return row;
}

test("the pass keeps finished, closed entries, and the reports give the figures they give live", async () => {
  const before = { effects: await effects(), tree: await tree() };
  const first = await keepOutcomes(t.db, ws);
  // 44 + 4 welcome entries and 1 of September, 3 winback entries: each against its goal; the 2 still active wait
  assert.deepEqual(first, { kept: 52 * 2, forgotten: 0, cleared: 0 });
  assert.deepEqual(await keptCount(), { kept: 52, all: 52, dirt: 0 });
  assert.deepEqual({ effects: await effects(), tree: await tree() }, before);
  // a second pass finds nothing to do
  assert.deepEqual(await keepOutcomes(t.db, ws), { kept: 0, forgotten: 0, cleared: 0 });
});

test("the reports read the kept figures", async () => {
  const truth = await effects();
  // a kept conversion the events do not show: the report believes the entry
  await t.db.pool.query(
    `UPDATE scenario_entries SET kept_converted = NOT kept_converted
      WHERE workspace_id = $1 AND customer_id = 1001 AND scenario = 'welcome'`,
    [ws],
  );
  assert.notDeepEqual(await effects(), truth);
  await t.db.pool.query(
    `UPDATE scenario_entries SET kept_converted = NOT kept_converted
      WHERE workspace_id = $1 AND customer_id = 1001 AND scenario = 'welcome'`,
    [ws],
  );
  assert.deepEqual(await effects(), truth);
});

test("a late order marks its customer: measured live at once, kept again by the next pass", async () => {
  const earlier = await effects();
  // customer 3's winback window (October) gets an order written now
  await t.db.pool.query(
    `INSERT INTO events (workspace_id, customer_id, message_id, type, name, occurred_at, received_at, properties)
     VALUES ($1, 3, 'late-order', 'track', 'order_completed', '2026-10-20T00:00:00Z', now(), '{"revenue": 80}')`,
    [ws],
  );
  assert.equal((await keptCount()).dirt, 1);
  const marked = { effects: await effects(), tree: await tree() };
  assert.notDeepEqual(marked.effects, earlier, "the late order counts");
  assert.deepEqual(marked, await live());
  const pass = await keepOutcomes(t.db, ws);
  // customer 3's winback entry, for the scenario and for the strategy, forgotten and kept again
  assert.deepEqual(pass, { kept: 2, forgotten: 1, cleared: 1 });
  assert.deepEqual(await keptCount(), { kept: 52, all: 52, dirt: 0 });
  assert.deepEqual({ effects: await effects(), tree: await tree() }, marked);
});

test("a merge measures the two customers' entries together", async () => {
  await withTransaction(t.db, (c) =>
    mergeCustomers(c, ws, "2", "1", "test", new Date("2026-11-05T00:00:00Z")),
  );
  assert.equal((await keptCount()).dirt > 0, true);
  const merged = { effects: await effects(), tree: await tree() };
  assert.deepEqual(merged, await live());
  await keepOutcomes(t.db, ws);
  assert.equal((await keptCount()).dirt, 0);
  assert.deepEqual({ effects: await effects(), tree: await tree() }, merged);
});

test("an outcome kept for another goal is not read; the next pass keeps it for the new one", async () => {
  await insertStrategyVersion(
    t.db.pool,
    ws,
    {
      name: "Metrics school",
      source: STRATEGY.replace(
        "win_back: { event: order_completed, window: 30d",
        "win_back: { event: order_completed, window: 20d",
      ),
      document: {},
      appliedBy: "test",
      inboxEvents: [],
    },
    new Date("2026-11-06T00:00:00Z"),
  );
  const changed = await effects();
  assert.deepEqual(changed, (await live()).effects);
  const pass = await keepOutcomes(t.db, ws);
  // winback's 3 − 1 merged entries… every winback entry for its goal, and every marketing entry for the strategy
  assert.ok(pass && pass.kept > 0);
  assert.deepEqual(await effects(), changed);
});

test("an entry with a message that may still be sent is not kept", async () => {
  const { rows } = await t.db.pool.query<{ entry_id: string }>(
    `SELECT entry_id FROM scenario_entries WHERE workspace_id = $1 AND scenario = 'welcome' AND customer_id = 1002`,
    [ws],
  );
  const entry = rows[0]?.entry_id;
  assert.ok(entry);
  await t.db.pool.query(
    `UPDATE scenario_entries SET kept_for = NULL WHERE workspace_id = $1 AND entry_id = $2`,
    [ws, entry],
  );
  await t.db.pool.query(
    `INSERT INTO messages (workspace_id, customer_id, scenario, entry_id, step_id, channel, template, fate, planned_at,
                           updated_at)
     VALUES ($1, 1002, 'welcome', $2, '9', 'email', 'hello', 'awaiting_approval', '2026-10-02', now())`,
    [ws, entry],
  );
  await keepOutcomes(t.db, ws);
  const kept = await t.db.pool.query(
    "SELECT kept_for, kept_all_for FROM scenario_entries WHERE workspace_id = $1 AND entry_id = $2",
    [ws, entry],
  );
  // the strategy's cost is the window's, final once it closed; the scenario's waits for the message's fate
  assert.equal(kept.rows[0]?.kept_for, null);
  assert.notEqual(kept.rows[0]?.kept_all_for, null);
});
