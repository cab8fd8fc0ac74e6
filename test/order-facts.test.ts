// order_facts, the copy of every order and refund the reports read, is kept by the database on every write to
// events: insert (INSERT and, on PostgreSQL, COPY), a merge moving events to the surviving customer, erasure,
// an edit, and retention dropping old months. After each, it must equal the orders read from events themselves.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { insertBareCustomers, mergeCustomers } from "../src/store/customers.ts";
import { withTransaction } from "../src/store/db.ts";
import { type EventRow, insertEvents } from "../src/store/events.ts";
import { dropEventPartitionsBefore, ensureEventPartitions } from "../src/store/partitions.ts";
import { eraseCustomer } from "../src/store/profiles.ts";
import { createWorkspace } from "../src/store/workspaces.ts";
import { pgUrl, type TestDb, testDb } from "./helpers.ts";

let t: TestDb;
let ws: number;

before(async () => {
  t = await testDb();
  ws = (await createWorkspace(t.db, "shop")).id;
  await insertBareCustomers(t.db.pool, ws, [
    { customerId: "1", userId: "u1" },
    { customerId: "2", userId: "u2" },
    { customerId: "3", userId: "u3" },
  ]);
});

after(async () => {
  await t?.close();
});

let seq = 0;
function event(
  customer: string,
  name: string | null,
  at: string,
  properties: object,
  type = "track",
): EventRow {
  seq++;
  return {
    customerId: customer,
    messageId: `m${seq}`,
    type,
    name,
    occurredAt: new Date(at),
    receivedAt: new Date(at),
    propertiesJson: JSON.stringify(properties),
    contextJson: null,
  };
}

/** The facts, and the same read from events with the profile's rules, both sorted. */
async function both(): Promise<{ facts: string[]; expected: string[] }> {
  const row = (r: Record<string, unknown>) =>
    `${r.customer_id} ${r.message_id} ${(r.occurred_at as Date).toISOString()} ${r.refund} ${Number(r.amount)} ${r.order_id} ${JSON.stringify(r.name)}`;
  const facts = await t.db.pool.query(
    "SELECT customer_id, message_id, occurred_at, refund, amount, order_id, name FROM order_facts WHERE workspace_id = $1",
    [ws],
  );
  const events = await t.db.pool.query(
    `SELECT customer_id, message_id, occurred_at, tact_track_kind(name) = 'order_refunded' AS refund,
            tact_order_amount(properties) AS amount, properties ->> 'order_id' AS order_id, name
       FROM events WHERE workspace_id = $1 AND type = 'track'
        AND tact_track_kind(name) IN ('order_completed', 'order_refunded')`,
    [ws],
  );
  return { facts: facts.rows.map(row).sort(), expected: events.rows.map(row).sort() };
}

test("inserted orders and refunds are copied with the profile's amounts; other events are not", async () => {
  const rows = [
    event("1", "order_completed", "2026-09-03T10:00:00Z", { revenue: 100, order_id: "A" }),
    event("1", "Order Completed", "2026-10-04T10:00:00Z", { revenue: "  42.5 ", order_id: "B" }),
    event("2", " order-completed ", "2026-10-05T10:00:00Z", { total: 30 }),
    event("2", "order_refunded", "2026-10-06T10:00:00Z", { revenue: 30, order_id: "C" }),
    event("2", "order_completed", "2026-10-07T10:00:00Z", { revenue: "a lot", total: "1e2" }),
    event("3", "order_completed", "2026-10-08T10:00:00Z", { revenue: 1e14 }),
    event("3", "order_completed_maybe", "2026-10-08T11:00:00Z", { revenue: 5 }),
    event("3", "Order Completed", "2026-10-08T12:00:00Z", { revenue: 5 }, "page"),
    event("3", "page_viewed", "2026-10-09T10:00:00Z", {}),
  ];
  await ensureEventPartitions(
    t.db,
    rows.map((r) => r.occurredAt),
  );
  await withTransaction(t.db, (c) => insertEvents(c, ws, rows.slice(0, 5), false));
  // the other write path (COPY) where the server has it
  await withTransaction(t.db, (c) => insertEvents(c, ws, rows.slice(5), pgUrl !== undefined));
  const { facts, expected } = await both();
  assert.deepEqual(facts, expected);
  assert.deepEqual(
    facts.map((f) => f.split(" ").slice(3, 5).join(" ")).sort(),
    // the strings read as numbers, a total stands in, text that is no number is 0, an absurd amount is 0
    ["false 100", "false 42.5", "false 30", "true 30", "false 100", "false 0"].sort(),
  );
});

test("a merge moves the orders to the surviving customer; an edit and erasure follow", async () => {
  await withTransaction(t.db, (c) =>
    mergeCustomers(c, ws, "2", "1", "test", new Date("2026-10-10T00:00:00Z")),
  );
  let now = await both();
  assert.deepEqual(now.facts, now.expected);
  assert.ok(
    now.facts.every((f) => !f.startsWith("2 ")),
    "nothing left on the merged customer",
  );

  // an order renamed into something else leaves; a page view renamed into an order arrives
  await t.db.pool.query(
    "UPDATE events SET properties = '{\"revenue\": 7}' WHERE workspace_id = $1 AND name = 'Order Completed'",
    [ws],
  );
  await t.db.pool.query(
    "UPDATE events SET name = 'order_completed_maybe' WHERE workspace_id = $1 AND name = ' order-completed '",
    [ws],
  );
  await t.db.pool.query(
    "UPDATE events SET type = 'track', name = 'order_completed' WHERE workspace_id = $1 AND name = 'page_viewed'",
    [ws],
  );
  now = await both();
  assert.deepEqual(now.facts, now.expected);
  assert.equal(now.facts.length, 6);

  const erased = await eraseCustomer(t.db, ws, "3", () => [], "test");
  assert.ok(erased.erased);
  now = await both();
  assert.deepEqual(now.facts, now.expected);
  assert.ok(now.facts.every((f) => !f.startsWith("3 ")));
});

test("retention drops the copies of the months it drops", async () => {
  await dropEventPartitionsBefore(t.db, new Date("2026-10-15T00:00:00Z"));
  const now = await both();
  assert.deepEqual(now.facts, now.expected);
  assert.ok(!now.facts.some((f) => f.includes("2026-09-")), "September's order is gone with its month");
  assert.ok(now.facts.length > 0);
});
