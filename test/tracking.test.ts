// The tracking API as a Segment client sees it: auth, each call type, dedupe, clock skew, batch defaults, limits.
import assert from "node:assert/strict";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { VirtualClock } from "../src/core/clock.ts";
import { basic, get, post, serverFixture } from "./helpers.ts";

const clock = new VirtualClock("2026-03-10T12:00:00Z");
const f = serverFixture({ clock });

const track = (body: unknown, headers?: Record<string, string>) =>
  post(`${f.server.url}/v1/track`, body, headers ?? { authorization: basic(f.w.writeKey) });
const customerByUser = async (userId: string) =>
  (await get(`${f.server.url}/api/v1/customers?userId=${encodeURIComponent(userId)}`, f.w.adminKey)).body
    .customers[0];
const eventsOf = async (id: string) =>
  (await get(`${f.server.url}/api/v1/customers/${id}/events?limit=1000`, f.w.adminKey)).body.events as any[];

test("every call type is accepted with the write key as Basic user, as Bearer, or as writeKey in the body", async () => {
  const calls: [string, Record<string, unknown>][] = [
    ["identify", { userId: "t1", traits: { name: "Tess" } }],
    ["track", { userId: "t1", event: "Signed Up", properties: { plan: "pro" } }],
    ["page", { userId: "t1", name: "Pricing", category: "docs", properties: { path: "/pricing" } }],
    ["screen", { userId: "t1", name: "Home" }],
    ["group", { userId: "t1", groupId: "acme", traits: { size: 10 } }],
    ["alias", { userId: "t1", previousId: "t1-old" }],
  ];
  for (const [type, body] of calls) {
    const r = await post(`${f.server.url}/v1/${type}`, body, { authorization: basic(f.w.writeKey) });
    assert.equal(r.status, 200, `${type}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.success, true);
    assert.equal(r.body.accepted, 1);
  }
  assert.equal(
    (await track({ userId: "t1", event: "bearer" }, { authorization: `Bearer ${f.w.writeKey}` })).status,
    200,
  );
  assert.equal((await track({ userId: "t1", event: "in body", writeKey: f.w.writeKey }, {})).status, 200);
  const c = await customerByUser("t1");
  const events = await eventsOf(c.id);
  assert.deepEqual(
    events.map((e) => `${e.type}:${e.name ?? ""}`).sort(),
    [
      "alias:",
      "group:acme",
      "identify:",
      "page:Pricing",
      "screen:Home",
      "track:Signed Up",
      "track:bearer",
      "track:in body",
    ].sort(),
  );
  const page = events.find((e) => e.type === "page");
  assert.deepEqual(page.properties, { category: "docs", path: "/pricing" });
});

test("no key, an unknown key, or an admin-only key type mismatch is refused with a JSON error", async () => {
  const none = await track({ userId: "x", event: "e" }, {});
  assert.equal(none.status, 401);
  assert.equal(none.body.error.code, "unauthorized");
  const unknown = await track({ userId: "x", event: "e" }, { authorization: basic("tact_write_nope_nope") });
  assert.equal(unknown.status, 401);
  const adminWithWrite = await get(`${f.server.url}/api/v1/customers?userId=x`, f.w.writeKey);
  assert.equal(adminWithWrite.status, 403);
});

test("a messageId seen before is acknowledged and not stored again", async () => {
  const body = { userId: "dup", event: "Order Completed", messageId: "m-dup-1", properties: { revenue: 30 } };
  const first = await track(body);
  const second = await track(body);
  assert.equal(first.body.accepted, 1);
  assert.equal(second.status, 200);
  assert.equal(second.body.accepted, 0);
  assert.equal(second.body.duplicates, 1);
  const inBatch = await post(
    `${f.server.url}/v1/batch`,
    {
      batch: [
        { ...body, type: "track" },
        { ...body, type: "track" },
        { ...body, type: "track", messageId: "m-dup-2" },
      ],
    },
    { authorization: basic(f.w.writeKey) },
  );
  assert.deepEqual([inBatch.body.accepted, inBatch.body.duplicates], [1, 2]);
  const c = await customerByUser("dup");
  assert.equal(c.computed.orders, 2);
  assert.equal(c.computed.revenue, 60);
});

test("the client's clock skew is corrected with sentAt", async () => {
  // The device's clock runs 2 hours fast: it stamps the event 10:00 (its time) and sends at 12:30 (its time),
  // while the server receives it at 10:30 real time. The event really happened at 08:00.
  clock.set(new Date("2026-03-10T10:30:00Z"));
  const r = await track({
    userId: "skew",
    event: "Clicked",
    timestamp: "2026-03-10T10:00:00Z",
    sentAt: "2026-03-10T12:30:00Z",
  });
  assert.equal(r.status, 200);
  const [e] = await eventsOf((await customerByUser("skew")).id);
  assert.equal(e.occurredAt, "2026-03-10T08:00:00.000Z");
  assert.equal(e.receivedAt, "2026-03-10T10:30:00.000Z");
  clock.set(new Date("2026-03-10T12:00:00Z"));
});

test("batch-level context, integrations and sentAt are merged into the items; an item's own values win", async () => {
  const r = await post(
    `${f.server.url}/v1/batch`,
    {
      batch: [
        { type: "track", userId: "ctx", event: "A", timestamp: "2026-03-10T11:00:00Z" },
        {
          type: "track",
          userId: "ctx",
          event: "B",
          context: { locale: "de-DE" },
          timestamp: "2026-03-10T11:00:00Z",
        },
      ],
      context: { library: { name: "lib", version: "1" }, locale: "en-US", timezone: "Europe/Berlin" },
      integrations: { All: false },
      sentAt: "2026-03-10T12:00:00Z",
    },
    { authorization: basic(f.w.writeKey) },
  );
  assert.equal(r.body.accepted, 2);
  const events = await eventsOf((await customerByUser("ctx")).id);
  const a = events.find((e) => e.name === "A");
  const b = events.find((e) => e.name === "B");
  assert.deepEqual(a.context, {
    library: { name: "lib", version: "1" },
    locale: "en-US",
    timezone: "Europe/Berlin",
    integrations: { All: false },
  });
  assert.equal(b.context.locale, "de-DE");
  assert.equal(b.context.library.name, "lib");
  const c = await customerByUser("ctx");
  assert.equal(c.timezone, "Europe/Berlin");
});

test("one bad item never loses the good ones: the response lists each rejected item with index and reason", async () => {
  const r = await post(
    `${f.server.url}/v1/batch`,
    {
      batch: [
        { type: "track", userId: "mix", event: "ok-1" },
        { type: "track", event: "no id" },
        { type: "bogus", userId: "mix" },
        { type: "track", userId: "mix", event: "future", timestamp: "2030-01-01T00:00:00Z" },
        { type: "track", userId: "mix", event: "bad time", timestamp: "yesterday-ish" },
        "not an object",
        { type: "track", userId: "mix", event: "big", properties: { blob: "x".repeat(40_000) } },
        { type: "identify", userId: "mix", traits: { nul: "a\u0000b" } },
        { type: "track", userId: "mix", event: "ok-2" },
      ],
    },
    { authorization: basic(f.w.writeKey) },
  );
  assert.equal(r.status, 200);
  assert.equal(r.body.accepted, 2);
  assert.deepEqual(
    r.body.rejected.map((x: any) => x.index),
    [1, 2, 3, 4, 5, 6, 7],
  );
  assert.match(r.body.rejected[0].reason, /userId or anonymousId/);
  assert.match(r.body.rejected[2].reason, /future/);
  assert.match(r.body.rejected[5].reason, /larger than 32768/);
  const names = (await eventsOf((await customerByUser("mix")).id)).map((e) => e.name).sort();
  assert.deepEqual(names, ["ok-1", "ok-2"]);
});

test("limits: a single event over 32 KB, a batch over 500 KB or 2,500 events get 413/400 with a clear error", async () => {
  const big = await track({ userId: "lim", event: "e", properties: { s: "x".repeat(33 * 1024) } });
  assert.equal(big.status, 413);
  assert.equal(big.body.error.code, "payload_too_large");
  const many = await post(
    `${f.server.url}/v1/batch`,
    { batch: Array.from({ length: 2501 }, (_, i) => ({ type: "track", userId: "lim", event: `e${i}` })) },
    { authorization: basic(f.w.writeKey) },
  );
  assert.equal(many.status, 400);
  assert.equal(many.body.error.code, "too_many_events");
  const heavy = await post(
    `${f.server.url}/v1/batch`,
    {
      batch: Array.from({ length: 30 }, () => ({
        type: "track",
        userId: "lim",
        event: "e",
        properties: { s: "y".repeat(20_000) },
      })),
    },
    { authorization: basic(f.w.writeKey) },
  );
  assert.equal(heavy.status, 413);
  assert.equal(heavy.body.error.path, "");
});

test("gzip bodies are read whatever the Content-Type says, and malformed JSON is a 400", async () => {
  for (const type of ["application/json", "text/plain", "application/octet-stream"]) {
    const res = await fetch(`${f.server.url}/v1/track`, {
      method: "POST",
      headers: { "content-type": type, authorization: basic(f.w.writeKey) },
      body: gzipSync(JSON.stringify({ userId: "gz", event: `gzip ${type}` })),
    });
    assert.equal(res.status, 200, type);
  }
  assert.equal((await eventsOf((await customerByUser("gz")).id)).length, 3);
  const bad = await post(`${f.server.url}/v1/track`, "{not json", { authorization: basic(f.w.writeKey) });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, "invalid_json");
});

test("browsers get CORS answers on the tracking API", async () => {
  const pre = await fetch(`${f.server.url}/v1/batch`, {
    method: "OPTIONS",
    headers: { origin: "https://shop.example", "access-control-request-method": "POST" },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), "https://shop.example");
  assert.match(pre.headers.get("access-control-allow-headers") ?? "", /Authorization/);
  const res = await fetch(`${f.server.url}/v1/track`, {
    method: "POST",
    headers: { origin: "https://shop.example", "content-type": "text/plain" },
    body: JSON.stringify({ writeKey: f.w.writeKey, anonymousId: "cors", event: "e" }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("access-control-allow-origin"), "https://shop.example");
});

test("an acknowledged event is committed: another connection sees it at once", async () => {
  const r = await track({ userId: "durable", event: "e", messageId: "durable-1" });
  assert.equal(r.status, 200);
  const { rows } = await f.t.db.pool.query(
    "SELECT count(*)::int AS n FROM events WHERE message_id = 'durable-1'",
  );
  assert.equal(rows[0].n, 1);
});

test("message ids are forgotten after the dedupe window, except those of imported rows", async () => {
  const { pruneMessageIds } = await import("../src/store/events.ts");
  const live = { userId: "prune", event: "e", messageId: "live-1" };
  const imported = { userId: "prune", event: "e", messageId: "import:event:prune:1" };
  assert.equal((await track(live)).body.accepted, 1);
  assert.equal((await track(imported)).body.accepted, 1);
  assert.ok((await pruneMessageIds(f.t.db, new Date(clock.now().getTime() + 60_000))) >= 1);
  assert.equal((await track(live)).body.accepted, 1, "a live id is accepted again after the window");
  assert.equal((await track(imported)).body.duplicates, 1, "an imported row never comes in twice");
});
