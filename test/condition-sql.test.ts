import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type ConditionEnv, type Expr, parseCondition } from "../src/core/condition/index.ts";
import { compileSelection } from "../src/store/condition-sql.ts";
import { ensureEventPartitions } from "../src/store/partitions.ts";
import { type TestDb, testDb } from "./helpers.ts";

const NOW = new Date("2025-03-01T00:00:00Z");
let t: TestDb;
let ws = 0;

function ast(src: string): Expr {
  const r = parseCondition(src);
  if (!r.ok) assert.fail(`${src}: ${JSON.stringify(r.errors)}`);
  return r.ast;
}

const env: ConditionEnv = {
  channels: { email: "email" },
  segments: new Map(),
  stages: [],
  allowSinceEntry: false,
};

before(async () => {
  t = await testDb();
  const { rows } = await t.db.pool.query(
    "INSERT INTO workspaces (name, salt) VALUES ('sql', 's') RETURNING workspace_id",
  );
  ws = rows[0].workspace_id;
  await ensureEventPartitions(t.db, [new Date("2025-02-15T00:00:00Z")]);
  await t.db.pool.query(
    `INSERT INTO customers (workspace_id, customer_id, email, traits) VALUES
       ($1, 1, 'a@x.ru', '{"name": "O''Neil"}'), ($1, 2, NULL, '{}'), ($1, 3, 'c@x.ru', '{}')`,
    [ws],
  );
  await t.db.pool.query(
    `INSERT INTO events (workspace_id, customer_id, message_id, type, name, occurred_at, received_at, properties) VALUES
       ($1, 1, 'a', 'track', 'order_completed', '2025-02-10', '2025-02-10', '{"total": 0.1}'),
       ($1, 1, 'b', 'track', 'order_completed', '2025-02-11', '2025-02-11', '{"total": 0.2}'),
       ($1, 3, 'c', 'track', 'order_completed', '2025-02-11', '2025-02-11', '{"total": "0.3"}')`,
    [ws],
  );
});
after(async () => {
  await t?.close();
});

test("sums of JSON numbers are exact decimals; strings are not numbers", async () => {
  const q = compileSelection({
    workspaceId: ws,
    now: NOW,
    env,
    conditions: [ast("sum(order_completed.properties.total, 30d) == 0.3")],
    withStage: false,
    withNextChange: true,
  });
  const { rows } = await t.db.pool.query(`${q.text} ORDER BY 1`, q.values);
  assert.deepEqual(
    rows.map((r) => [r.customer_id, r.c0]),
    [
      ["1", true],
      ["2", false],
      ["3", false],
    ],
  );
  // the first order leaves the 30-day window on 2025-03-12
  assert.equal(rows[0].next_change.toISOString(), "2025-03-12T00:00:00.000Z");
});

test("only the asked customers come back, and user text travels as parameters", async () => {
  const q = compileSelection({
    workspaceId: ws,
    now: NOW,
    env,
    conditions: [ast('traits.name == "O\'Neil"'), ast("email ends_with '@x.ru'")],
    withStage: false,
    withNextChange: false,
    customerIds: ["1", "2"],
  });
  assert.ok(!q.text.includes("Neil") && !q.text.includes("@x.ru"));
  const { rows } = await t.db.pool.query(`${q.text} ORDER BY 1`, q.values);
  assert.deepEqual(
    rows.map((r) => [r.customer_id, r.c0, r.c1]),
    [
      ["1", true, true],
      ["2", false, false],
    ],
  );
});

test("a segment that refers to itself is refused", () => {
  const loop: ConditionEnv = { ...env, segments: new Map([["a", ast("segment('a')")]]) };
  assert.throws(
    () =>
      compileSelection({
        workspaceId: ws,
        now: NOW,
        env: loop,
        conditions: [ast("segment('a')")],
        withStage: false,
        withNextChange: false,
      }),
    /refers to itself/,
  );
});
