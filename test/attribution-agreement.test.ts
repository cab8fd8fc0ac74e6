// The attribution report read from the database agrees with the pure models run in memory (core attributeAll) on
// random touches and orders, for every model: the SQL that pairs conversions with touches loses none the windows
// allow, window edges included.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import fc from "fast-check";
import {
  ATTRIBUTION_MODELS,
  attributeAll,
  type Conversion,
  type Touch,
} from "../src/core/attribution/index.ts";
import { attributionReport } from "../src/measure/attribution-report.ts";
import { ensureEventPartitions } from "../src/store/partitions.ts";
import { type TestDb, testDb, testWorkspace } from "./helpers.ts";

const HOUR = 3_600_000;
const BASE = Date.parse("2026-06-15T00:00:00Z");
let t: TestDb;

before(async () => {
  t = await testDb();
  await ensureEventPartitions(
    t.db,
    [4, 5, 6].map((m) => new Date(Date.UTC(2026, m, 10))),
  );
});
after(async () => {
  await t?.close();
});

const touchArb = fc.record({
  channel: fc.constantFrom("email", "sms", "push", "telegram"),
  kind: fc.constantFrom("delivered", "opened", "clicked"),
  // hours at and next to the window edges of the orders below (12 h, 24 h, 5 days before an order, or at it)
  hour: fc.constantFrom(-130, -120, -119, -108, -96, -84, -36, -24, -23, -12, -11, 0, 1, 12, 24, 36, 40),
  scenario: fc.constantFrom("a", "b", "c"),
});
const orderArb = fc.record({
  hour: fc.constantFrom(0, 12, 24, 36, 120),
  revenue: fc.integer({ min: -50, max: 300 }),
});
const customersArb = fc.array(
  fc.record({
    touches: fc.array(touchArb, { maxLength: 6 }),
    orders: fc.array(orderArb, { minLength: 1, maxLength: 3 }),
  }),
  { minLength: 1, maxLength: 6 },
);

test("the report's totals equal the models run in memory, for random data and every model", async () => {
  await fc.assert(
    fc.asyncProperty(customersArb, async (customers) => {
      const w = await testWorkspace(t.db);
      const ws = w.workspace.id;
      const inMemory: { touches: Touch[]; conversions: Conversion[] }[] = [];
      let n = 0;
      for (const c of customers) {
        const { rows } = await t.db.pool.query<{ id: string }>(
          "INSERT INTO customers (workspace_id, customer_id) VALUES ($1, nextval('customer_id_seq')) RETURNING customer_id AS id",
          [ws],
        );
        const id = rows[0]?.id ?? "";
        const touches: Touch[] = [];
        const conversions: Conversion[] = [];
        const insert = (name: string, at: number, properties: object) =>
          t.db.pool.query(
            `INSERT INTO events (workspace_id, customer_id, message_id, type, name, occurred_at, received_at, properties)
             VALUES ($1, $2, $3, 'track', $4, $5, $5, $6::jsonb)`,
            [ws, id, `e${++n}`, name, new Date(at), JSON.stringify(properties)],
          );
        for (const x of c.touches) {
          const messageId = String(++n);
          const at = BASE + x.hour * HOUR;
          touches.push({ messageId, scenario: x.scenario, channel: x.channel, kind: x.kind, at });
          await insert(`message_${x.kind}`, at, {
            message_id: messageId,
            channel: x.channel,
            scenario: x.scenario,
          });
        }
        for (const o of c.orders) {
          conversions.push({ at: BASE + o.hour * HOUR, revenue: o.revenue });
          await insert("order_completed", BASE + o.hour * HOUR, { revenue: o.revenue });
        }
        inMemory.push({ touches, conversions });
      }
      const period = { from: new Date(BASE), to: new Date(BASE + 121 * HOUR) };
      for (const model of ATTRIBUTION_MODELS) {
        const want = attributeAll(inMemory, { model });
        const got = await attributionReport(t.db, ws, { ...period, model });
        const r4 = (x: number) => Math.round(x * 10_000) / 10_000;
        const close = (a: number, b: number, what: string) =>
          assert.ok(Math.abs(a - b) < 2e-4, `${model} ${what}: report ${a}, models ${b}`);
        close(got.conversions.revenue, r4(want.total), "total");
        close(got.conversions.attributed.revenue, r4(want.attributed), "attributed");
        const byScenario = new Map(got.byScenario.map((s) => [s.scenario, s.attributedRevenue]));
        for (const [k, v] of want.byScenario) close(byScenario.get(k) ?? 0, r4(v), `scenario ${k}`);
        const byChannel = new Map(got.byChannel.map((s) => [s.channel, s.attributedRevenue]));
        for (const [k, v] of want.byChannel) close(byChannel.get(k) ?? 0, r4(v), `channel ${k}`);
        assert.equal(byScenario.size, want.byScenario.size, `${model}: the same scenarios are credited`);
      }
    }),
    { numRuns: 25, seed: 20260315, endOnFailure: true },
  );
});
