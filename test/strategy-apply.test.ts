// Applying a strategy through the admin API: an invalid document changes nothing and answers every diagnostic
// with its position; a valid one becomes a new version whose segments and stages are computed at once and kept
// current as events arrive; versions, sizes and a customer's memberships can be read back.
import assert from "node:assert/strict";
import { test } from "node:test";
import { systemClock } from "../src/core/clock.ts";
import { MembershipRefresher } from "../src/engine/membership-refresher.ts";
import { strategyModels } from "../src/engine/strategy-cache.ts";
import { basic, get, post, serverFixture } from "./helpers.ts";

const f = serverFixture();

const STRATEGY = `version: 1
name: Shop
currency: EUR
goals:
  first_purchase: { event: order_completed, window: 14d, target: 8% }
channels:
  email: { provider: smtp, from: "Shop <shop@example.com>", cost: 0.01 }
stages:
  repeat: "orders >= 2"
  first_buyer: "orders == 1"
  lead: "reachable.email"
  visitor: "true"
segments:
  gmail: "email ends_with '@gmail.com'"
  browsers: "count(page, 7d) >= 2"
scenarios:
  welcome:
    goal: first_purchase
    audience: "stage == 'lead'"
    trigger: { event: signed_up }
    steps:
      - send: welcome
        via: [email]
templates:
  welcome:
    email: { subject: "Welcome", html: "<p>Hello</p>" }
`;

const apply = (source: string) =>
  post(
    `${f.server.url}/api/v1/strategy`,
    { source, file: "shop.yaml" },
    { authorization: `Bearer ${f.w.adminKey}` },
  );
const batch = (items: unknown[]) =>
  post(`${f.server.url}/v1/batch`, { batch: items }, { authorization: basic(f.w.writeKey) });

test("an invalid strategy is refused with every diagnostic and its position, and nothing is stored", async () => {
  const broken = STRATEGY.replace('"orders >= 2"', '"ordrs >= 2"').replace(
    "goal: first_purchase",
    "goal: first_purchse",
  );
  const r = await apply(broken);
  assert.equal(r.status, 422);
  assert.equal(r.body.error.code, "invalid_strategy");
  const diags = r.body.error.diagnostics as {
    code: string;
    line: number;
    column: number;
    suggestion?: string;
  }[];
  assert.ok(diags.length >= 2, JSON.stringify(diags));
  const attr = diags.find((d) => d.line === 9);
  assert.ok(attr, "the misspelt attribute on line 9 is reported");
  assert.equal(attr.column, 12); // the first character of "ordrs", inside the quotes
  assert.ok(
    diags.some((d) => d.suggestion === "first_purchase"),
    "did you mean first_purchase",
  );
  assert.equal((await get(`${f.server.url}/api/v1/strategy`, f.w.adminKey)).status, 404);
  assert.equal((await get(`${f.server.url}/api/v1/strategy/versions`, f.w.adminKey)).body.versions.length, 0);
});

test("a valid strategy becomes version 1, memberships are computed and then kept current", async () => {
  await batch([
    { type: "identify", userId: "ann", traits: { email: "ann@gmail.com" } },
    { type: "track", userId: "bob", event: "order_completed", properties: { revenue: 30 } },
  ]);
  const r = await apply(STRATEGY);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.version, 1);
  assert.equal(r.body.customers, 2);

  const stages = await get(`${f.server.url}/api/v1/stages`, f.w.adminKey);
  assert.deepEqual(
    stages.body.stages.map((s: { name: string; customers: number }) => [s.name, s.customers]),
    [
      ["repeat", 0],
      ["first_buyer", 1],
      ["lead", 1],
      ["visitor", 0],
    ],
  );
  const segments = await get(`${f.server.url}/api/v1/segments`, f.w.adminKey);
  assert.deepEqual(segments.body.segments[0], {
    name: "gmail",
    condition: "email ends_with '@gmail.com'",
    customers: 1,
  });

  // New events: the refresher (run here by hand; `tact serve` runs it in the background) brings Ann along.
  await batch([
    { type: "track", userId: "ann", event: "order_completed", properties: { revenue: 10 } },
    { type: "page", userId: "ann", properties: {} },
    { type: "page", userId: "ann", properties: {} },
  ]);
  await new MembershipRefresher(f.t.db, strategyModels(), systemClock).runOnce();
  const [ann] = (await get(`${f.server.url}/api/v1/customers?userId=ann`, f.w.adminKey)).body.customers;
  const m = await get(`${f.server.url}/api/v1/customers/${ann.id}/memberships`, f.w.adminKey);
  assert.equal(m.status, 200);
  assert.equal(m.body.stage, "first_buyer");
  assert.deepEqual(m.body.segments.sort(), ["browsers", "gmail"]);
  const lead = m.body.history.find((h: { name: string }) => h.name === "lead");
  assert.ok(lead.leftAt, "the lead stage was left, and its history kept");

  const second = await apply(STRATEGY.replace("name: Shop", "name: Shop v2"));
  assert.equal(second.body.version, 2);
  const versions = await get(`${f.server.url}/api/v1/strategy/versions`, f.w.adminKey);
  assert.deepEqual(
    versions.body.versions.map((v: { version: number; name: string }) => [v.version, v.name]),
    [
      [2, "Shop v2"],
      [1, "Shop"],
    ],
  );
  const v1 = await get(`${f.server.url}/api/v1/strategy/versions/1`, f.w.adminKey);
  assert.equal(v1.body.source, STRATEGY);
});

test("the strategy endpoints are in the OpenAPI document and need an admin key", async () => {
  const doc = (await get(`${f.server.url}/openapi.json`)).body;
  for (const p of ["/api/v1/strategy", "/api/v1/strategy/versions", "/api/v1/segments", "/api/v1/stages"])
    assert.ok(doc.paths[p], p);
  assert.equal((await get(`${f.server.url}/api/v1/segments`)).status, 401);
  const asWriter = await post(
    `${f.server.url}/api/v1/strategy`,
    { source: STRATEGY },
    { authorization: `Bearer ${f.w.writeKey}` },
  );
  assert.equal(asWriter.status, 403);
});
