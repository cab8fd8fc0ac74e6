// The official Segment and RudderStack Node SDKs, unchanged, pointed at a Tact server: every call arrives exactly
// once, anonymous visitors are linked to the identified customer, alias merges, computed attributes add up.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { test } from "node:test";
import { deflateSync, gzipSync } from "node:zlib";
import Rudder from "@rudderstack/rudder-sdk-node";
import { Analytics } from "@segment/analytics-node";
import type { CustomerProfile } from "../src/store/profiles.ts";
import { basic, get, serverFixture } from "./helpers.ts";

interface StoredEvent {
  messageId: string;
  type: string;
  name: string | null;
  occurredAt: string;
  properties: Record<string, unknown>;
  context: Record<string, unknown> | null;
}

interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

const requests: SeenRequest[] = [];
const f = serverFixture({
  // Every request as it reaches the HTTP server, before Fastify: what the SDKs really send.
  onReady: ({ server }) =>
    server.app.server.prependListener("request", (req) => {
      requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    }),
});

const uid = (prefix: string) => `${prefix}-${randomBytes(4).toString("hex")}`;

async function customerBy(query: "userId" | "anonymousId", value: string): Promise<CustomerProfile[]> {
  const r = await get(`${f.server.url}/api/v1/customers?${query}=${encodeURIComponent(value)}`, f.w.adminKey);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.customers as CustomerProfile[];
}

async function oneCustomer(query: "userId" | "anonymousId", value: string): Promise<CustomerProfile> {
  const list = await customerBy(query, value);
  assert.equal(list.length, 1, `exactly one customer for ${query}=${value}, got ${JSON.stringify(list)}`);
  return list[0] as CustomerProfile;
}

async function eventsOf(customerId: string): Promise<StoredEvent[]> {
  const r = await get(`${f.server.url}/api/v1/customers/${customerId}/events?limit=1000`, f.w.adminKey);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.next, null);
  return r.body.events as StoredEvent[];
}

/** The events of a customer with a given marker property (every call of a test carries its own marker). */
function withMarker(events: StoredEvent[], key: string, value: string): StoredEvent[] {
  return events.filter((e) => {
    const p = e.properties as Record<string, unknown> & { traits?: Record<string, unknown> };
    return p[key] === value || p.traits?.[key] === value;
  });
}

function assertOnce(events: StoredEvent[], type: string, name: string | null, what: string): StoredEvent {
  const hits = events.filter((e) => e.type === type && e.name === name);
  assert.equal(hits.length, 1, `${what}: expected one ${type} ${name ?? ""} event, got ${hits.length}`);
  return hits[0] as StoredEvent;
}

const batchRequests = (since: number) => requests.slice(since).filter((r) => r.url.startsWith("/v1/batch"));

test("Segment analytics-node: every call arrives once, anonymous visitor linked, alias merges, orders counted", async () => {
  const anon = uid("seg-anon");
  const user = uid("seg-user");
  const other = uid("seg-other");
  const otherAnon = uid("seg-other-anon");
  const mark = uid("m");
  const since = requests.length;

  const analytics = new Analytics({ writeKey: f.w.writeKey, host: f.server.url, flushAt: 3, maxRetries: 0 });
  const errors: unknown[] = [];
  const statuses: number[] = [];
  analytics.on("error", (err) => errors.push(err));
  analytics.on("http_response", (r) => statuses.push(r.status));

  // Anonymous visitor browses, then signs up.
  analytics.page({
    anonymousId: anon,
    category: "Docs",
    name: "Pricing",
    properties: { mark, path: "/pricing" },
  });
  analytics.track({ anonymousId: anon, event: "Product Viewed", properties: { mark, sku: "A-1" } });
  analytics.identify({
    anonymousId: anon,
    userId: user,
    traits: { mark, email: `${user}@example.com`, name: "Ann Lee", plan: "pro" },
  });
  analytics.track({
    userId: user,
    event: "Order Completed",
    properties: { mark, orderId: "o1", revenue: 100 },
  });
  analytics.track({
    userId: user,
    event: "Order Completed",
    properties: { mark, orderId: "o2", revenue: 50.5 },
  });
  analytics.screen({ userId: user, name: "Home", properties: { mark, screen: 1 } });
  analytics.group({ userId: user, groupId: "acme", traits: { mark, employees: 42 } });
  // A second, separate customer that alias folds into the first.
  analytics.page({ anonymousId: otherAnon, name: "Landing", properties: { mark, other: true } });
  analytics.identify({ userId: other, traits: { mark, plan: "free" } });
  await analytics.closeAndFlush({ timeout: 20_000 });

  assert.equal(errors.length, 0, `the SDK reported no delivery error: ${errors}`);
  assert.ok(statuses.length > 0 && statuses.every((s) => s === 200), `all batches answered 200: ${statuses}`);

  const c = await oneCustomer("userId", user);
  assert.equal(
    (await oneCustomer("anonymousId", anon)).id,
    c.id,
    "the anonymous visitor is the identified customer",
  );
  assert.deepEqual(c.anonymousIds, [anon]);
  assert.equal(c.email, `${user}@example.com`);
  assert.equal(c.traits.name, "Ann Lee");
  assert.equal(c.traits.plan, "pro");
  assert.equal(c.computed.orders, 2);
  assert.equal(c.computed.revenue, 150.5);
  assert.equal(c.computed.averageOrderValue, 75.25);

  const events = withMarker(await eventsOf(c.id), "mark", mark);
  assert.equal(events.length, 7, `7 calls, 7 events: ${JSON.stringify(events.map((e) => [e.type, e.name]))}`);
  const page = assertOnce(events, "page", "Pricing", "page");
  assert.equal(page.properties.category, "Docs");
  assert.equal(page.properties.path, "/pricing");
  assert.equal(assertOnce(events, "track", "Product Viewed", "track").properties.sku, "A-1");
  const identify = assertOnce(events, "identify", null, "identify");
  assert.equal(identify.properties.plan, "pro");
  const orders = events.filter((e) => e.type === "track" && e.name === "Order Completed");
  assert.deepEqual(orders.map((o) => o.properties.revenue).sort(), [100, 50.5]);
  assert.equal(assertOnce(events, "screen", "Home", "screen").properties.screen, 1);
  const group = assertOnce(events, "group", "acme", "group");
  assert.deepEqual(group.properties, { groupId: "acme", traits: { mark, employees: 42 } });
  assert.equal((page.context?.library as { name?: string } | undefined)?.name, "@segment/analytics-node");

  // The other customer exists on its own, with both its anonymous page view and its identify … until alias.
  const o = await oneCustomer("userId", other);
  assert.notEqual(o.id, c.id);
  const oa = await oneCustomer("anonymousId", otherAnon);
  assert.notEqual(oa.id, c.id);

  const since2 = requests.length;
  const analytics2 = new Analytics({ writeKey: f.w.writeKey, host: f.server.url, flushAt: 1, maxRetries: 0 });
  analytics2.on("error", (err) => errors.push(err));
  analytics2.alias({ previousId: otherAnon, userId: user });
  await analytics2.closeAndFlush({ timeout: 20_000 });
  assert.equal(errors.length, 0, `the SDK reported no delivery error: ${errors}`);
  assert.equal(batchRequests(since2).length, 1);

  const merged = await oneCustomer("anonymousId", otherAnon);
  assert.equal(merged.id, c.id, "alias merged the anonymous visitor into the identified customer");
  assert.ok(merged.mergedFrom.includes(oa.id), `mergedFrom lists ${oa.id}: ${merged.mergedFrom}`);
  assert.deepEqual([...merged.anonymousIds].sort(), [anon, otherAnon].sort());
  const after = withMarker(await eventsOf(c.id), "mark", mark);
  assert.equal(after.length, 8, "the merged visitor's page view moved over");
  assertOnce(after, "page", "Landing", "moved page view");
  const alias = (await eventsOf(c.id)).filter((e) => e.type === "alias");
  assert.equal(alias.length, 1);
  assert.equal(alias[0]?.properties.previousId, otherAnon);
  // The merged-away id still answers, with the survivor.
  const old = await get(`${f.server.url}/api/v1/customers/${oa.id}`, f.w.adminKey);
  assert.equal(old.status, 200);
  assert.equal(old.body.id, c.id);
  // The unrelated identified customer was not touched.
  assert.equal((await oneCustomer("userId", other)).id, o.id);

  // What Segment sends: JSON (not compressed), HTTP Basic with the write key, to /v1/batch.
  const seen = batchRequests(since);
  assert.ok(seen.length >= 3, `flushAt 3 → several batches, got ${seen.length}`);
  for (const r of seen) {
    assert.equal(r.method, "POST");
    assert.equal(r.url, "/v1/batch");
    assert.equal(r.headers["content-type"], "application/json");
    assert.equal(r.headers["content-encoding"], undefined);
    assert.equal(r.headers.authorization, basic(f.w.writeKey));
  }
  console.log("# segment analytics-node request headers:", JSON.stringify(seen[0]?.headers));
});

test("RudderStack rudder-sdk-node: gzip batches to /v1/batch, every call arrives once, alias merges", async () => {
  const anon = uid("rs-anon");
  const user = uid("rs-user");
  const prev = uid("rs-prev");
  const mark = uid("m");
  const since = requests.length;
  const errors: unknown[] = [];
  const client = new Rudder(f.w.writeKey, {
    dataPlaneUrl: f.server.url,
    flushAt: 50,
    flushInterval: 60_000,
    retryCount: 0,
    logLevel: "error",
    errorHandler: (err) => errors.push(err),
  });

  client.page({ anonymousId: anon, name: "Pricing", category: "Docs", properties: { mark, path: "/p" } });
  client.track({ anonymousId: anon, event: "Product Viewed", properties: { mark, sku: "B-2" } });
  client.identify({
    anonymousId: anon,
    userId: user,
    traits: { mark, email: `${user}@example.com`, plan: "team" },
  });
  client.track({ userId: user, event: "Order Completed", properties: { mark, revenue: 30 } });
  client.track({ userId: user, event: "Order Completed", properties: { mark, revenue: "70" } });
  client.track({ userId: user, event: "Order Completed", properties: { mark, revenue: 20 } });
  client.screen({ userId: user, name: "Cart", properties: { mark } });
  client.group({ userId: user, groupId: "g-1", traits: { mark, name: "Group One" } });
  // A customer known by an older user id, aliased to the new one.
  client.identify({ userId: prev, traits: { mark, legacy: true } });
  client.track({ userId: prev, event: "Legacy Event", properties: { mark } });
  await client.flush();
  client.alias({ previousId: prev, userId: user });
  await client.flush();
  assert.equal(errors.length, 0, `the SDK reported no delivery error: ${errors}`);

  const seen = batchRequests(since);
  assert.ok(seen.length >= 2, `at least two batches, got ${seen.length}`);
  for (const r of seen) {
    assert.equal(r.url, "/v1/batch");
    assert.equal(r.headers["content-encoding"], "gzip", "the Rudder node SDK gzips by default");
    assert.equal(r.headers.authorization, basic(f.w.writeKey));
  }
  console.log("# rudder-sdk-node request headers:", JSON.stringify(seen[0]?.headers));

  const c = await oneCustomer("userId", user);
  assert.equal(c.userId, user);
  assert.equal((await oneCustomer("anonymousId", anon)).id, c.id);
  assert.equal(
    (await oneCustomer("userId", prev)).id,
    c.id,
    "alias: the previous user id answers with the survivor",
  );
  assert.equal(c.email, `${user}@example.com`);
  assert.equal(c.traits.plan, "team");
  assert.equal(c.traits.legacy, true);
  assert.equal(c.computed.orders, 3);
  assert.equal(c.computed.revenue, 120);
  assert.equal(c.computed.averageOrderValue, 40);
  assert.equal(c.mergedFrom.length, 1, "one merge");

  const all = await eventsOf(c.id);
  const events = withMarker(all, "mark", mark);
  assert.equal(
    events.length,
    10,
    `10 calls with a marker: ${JSON.stringify(events.map((e) => [e.type, e.name]))}`,
  );
  assertOnce(events, "page", "Pricing", "page");
  assertOnce(events, "track", "Product Viewed", "track");
  assertOnce(events, "screen", "Cart", "screen");
  assertOnce(events, "group", "g-1", "group");
  assertOnce(events, "track", "Legacy Event", "legacy track");
  assert.equal(events.filter((e) => e.type === "identify").length, 2);
  assert.equal(events.filter((e) => e.name === "Order Completed").length, 3);
  const alias = all.filter((e) => e.type === "alias");
  assert.equal(alias.length, 1);
  assert.equal(alias[0]?.properties.previousId, prev);
  assert.equal(new Set(all.map((e) => e.messageId)).size, all.length, "no message stored twice");
});

test("gzip and deflate bodies are accepted whatever the Content-Type says", async () => {
  const cases: {
    contentType: string | undefined;
    encoding: "gzip" | "deflate" | undefined;
    compress: (b: Buffer) => Buffer;
  }[] = [
    { contentType: "application/json", encoding: "gzip", compress: gzipSync },
    { contentType: "text/plain", encoding: "gzip", compress: gzipSync },
    { contentType: "application/x-www-form-urlencoded", encoding: "gzip", compress: gzipSync }, // as Rudder's SDK sends

    { contentType: "text/plain;charset=UTF-8", encoding: undefined, compress: gzipSync }, // recognised by magic bytes
    { contentType: "application/json", encoding: "deflate", compress: deflateSync },
    { contentType: undefined, encoding: "gzip", compress: gzipSync },
  ];
  for (const [i, c] of cases.entries()) {
    const user = uid(`gz${i}`);
    const body = c.compress(
      Buffer.from(
        JSON.stringify({
          batch: [
            { type: "identify", userId: user, traits: { plan: "gz" } },
            { type: "track", userId: user, event: "Order Completed", properties: { revenue: 9 } },
          ],
        }),
      ),
    );
    const headers: Record<string, string> = { authorization: basic(f.w.writeKey) };
    if (c.contentType) headers["content-type"] = c.contentType;
    if (c.encoding) headers["content-encoding"] = c.encoding;
    const res = await fetch(`${f.server.url}/v1/batch`, {
      method: "POST",
      headers,
      body: new Uint8Array(body),
    });
    const text = await res.text();
    assert.equal(res.status, 200, `${JSON.stringify(c)} → ${res.status} ${text}`);
    assert.equal(JSON.parse(text).accepted, 2, text);
    const cust = await oneCustomer("userId", user);
    assert.equal(cust.traits.plan, "gz");
    assert.equal(cust.computed.orders, 1);
  }

  // A single call, gzipped, with the write key in the body instead of a header.
  const user = uid("gz-single");
  const res = await fetch(`${f.server.url}/v1/track`, {
    method: "POST",
    headers: { "content-type": "text/plain", "content-encoding": "gzip" },
    body: new Uint8Array(
      gzipSync(JSON.stringify({ writeKey: f.w.writeKey, userId: user, event: "Signed Up" })),
    ),
  });
  assert.equal(res.status, 200, await res.clone().text());
  const cust = await oneCustomer("userId", user);
  assertOnce(await eventsOf(cust.id), "track", "Signed Up", "gzip single call");
});
