// The scenario effects' outcome query on hand-made entries and orders: a customer counts once per group, from their
// first entry in the period (whatever scenario of the group it was), over the goal window counted from that entry;
// each scenario is one group of a query.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ensureEventPartitions } from "../src/store/partitions.ts";
import { type OutcomeQuery, outcomeTotals } from "../src/store/scenario-outcomes.ts";
import { createWorkspace } from "../src/store/workspaces.ts";
import { type TestDb, testDb } from "./helpers.ts";

const DAY = 86_400_000;
const T0 = new Date("2026-05-01T00:00:00Z");
const at = (days: number) => new Date(T0.getTime() + days * DAY);
let t: TestDb;
let ws: number;

before(async () => {
  t = await testDb();
  ws = (await createWorkspace(t.db, "outcomes")).id;
  await t.db.pool.query(
    "INSERT INTO customers (workspace_id, customer_id, user_id) SELECT $1, i, 'u' || i FROM generate_series(1, 4) i",
    [ws],
  );
  // customer: [scenario, day entered, arm]
  const entries: [number, string, number, string | null][] = [
    [1, "s1", 1, null], // first entry of s1: nothing bought within 7 days
    [1, "s1", 20, null], // a second entry of s1, an order a day after it: not counted for s1
    [1, "s2", 0, null], // customer 1's first entry of the strategy (s1 + s2): the order on day 21 is outside
    [2, "s1", 2, null], // buys on day 4: converted, 50
    [3, "s1", 3, "control"], // the control arm, buys on day 5: converted, 30
    [4, "s2", 40, null], // entered after the period
  ];
  for (const [customer, scenario, day, variant] of entries)
    await t.db.pool.query(
      `INSERT INTO scenario_entries (workspace_id, customer_id, scenario, version, entered_at, state, variant, updated_at)
       VALUES ($1, $2, $3, 1, $4, 'completed', $5, $4)`,
      [ws, customer, scenario, at(day), variant],
    );
  const orders: [number, number, number][] = [
    [1, 21, 70],
    [2, 4, 50],
    [3, 5, 30],
  ];
  await ensureEventPartitions(
    t.db,
    orders.map(([, day]) => at(day)),
  );
  for (const [customer, day, revenue] of orders)
    await t.db.pool.query(
      `INSERT INTO events (workspace_id, customer_id, message_id, type, name, occurred_at, received_at, properties)
       VALUES ($1, $2, $3, 'track', 'order_completed', $4, $4, $5)`,
      [ws, customer, `o-${customer}-${day}`, at(day), { revenue }],
    );
});

after(() => t.close());

const query = (groups: OutcomeQuery["groups"], dropPilot = false): OutcomeQuery => ({
  workspaceId: ws,
  groups,
  pilotKeys: [],
  dropPilot,
  goalFilter: null,
  from: T0,
  to: at(30),
  costBy: "entry",
  closedOnly: false,
  currency: null,
});
const group = (key: string, scenarios: string[]) => ({
  key,
  scenarios,
  goalEvents: ["order_completed"],
  windowMs: 7 * DAY,
});

test("each customer counts once per scenario, from the first entry in the period", async () => {
  const rows = await outcomeTotals(t.db, query([group("s1", ["s1"]), group("s2", ["s2"])]));
  const pick = (g: string, variant: string | null) =>
    rows.filter((r) => r.group === g && r.variant === variant).map((r) => [r.n, r.conversions, r.revenue]);
  assert.deepEqual(pick("s1", null), [[2, 1, 50]]);
  assert.deepEqual(pick("s1", "control"), [[1, 1, 30]]);
  assert.deepEqual(pick("s2", null), [[1, 0, 0]]);
});

test("a group of several scenarios counts a customer once, from their first entry of any", async () => {
  const rows = await outcomeTotals(t.db, { ...query([group("all", ["s1", "s2"])], true) });
  const treated = rows.filter((r) => r.variant === null);
  assert.deepEqual(
    treated.map((r) => [r.n, r.conversions, r.revenue]),
    [[2, 1, 50]],
  );
});

test("a scenario in two groups of one query is refused", async () => {
  await assert.rejects(
    outcomeTotals(t.db, query([group("a", ["s1"]), group("b", ["s1", "s2"])])),
    /one group/,
  );
});
