// The admin API: profiles, paged events, export of everything held on a person, erasure with suppression, OpenAPI.
import assert from "node:assert/strict";
import { test } from "node:test";
import { basic, get, post, serverFixture } from "./helpers.ts";

const f = serverFixture();

const batch = (items: unknown[]) =>
  post(`${f.server.url}/v1/batch`, { batch: items }, { authorization: basic(f.w.writeKey) });
const del = async (path: string) => {
  const res = await fetch(`${f.server.url}${path}`, {
    method: "DELETE",
    headers: { authorization: `Bearer ${f.w.adminKey}` },
  });
  return { status: res.status, body: await res.json() };
};

test("events are paged newest first with a cursor, and every event appears exactly once", async () => {
  const items = Array.from({ length: 25 }, (_, i) => ({
    type: "track",
    userId: "pager",
    event: `e${i}`,
    timestamp: new Date(Date.UTC(2026, 0, 1, 0, i % 10)).toISOString(), // ties on purpose
  }));
  assert.equal((await batch(items)).body.accepted, 25);
  const [c] = (await get(`${f.server.url}/api/v1/customers?userId=pager`, f.w.adminKey)).body.customers;
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const q: string = cursor ? `&cursor=${cursor}` : "";
    const page = await get(`${f.server.url}/api/v1/customers/${c.id}/events?limit=7${q}`, f.w.adminKey);
    assert.equal(page.status, 200);
    const times = page.body.events.map((e: any) => e.occurredAt);
    assert.deepEqual(times, [...times].sort().reverse());
    seen.push(...page.body.events.map((e: any) => e.name));
    cursor = page.body.next;
    pages++;
  } while (cursor);
  assert.equal(pages, 4);
  assert.equal(seen.length, 25);
  assert.equal(new Set(seen).size, 25);
  const bad = await get(`${f.server.url}/api/v1/customers/${c.id}/events?cursor=garbage`, f.w.adminKey);
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.path, "query.cursor");
  // well-formed JSON whose message id holds unpaired surrogates: not text the database can compare
  const forged = Buffer.from(JSON.stringify(["2000-01-01T00:00:00.000Z", "\udfff\udfff"])).toString(
    "base64url",
  );
  const unpaired = await get(
    `${f.server.url}/api/v1/customers/${c.id}/events?cursor=${forged}`,
    f.w.adminKey,
  );
  assert.equal(unpaired.status, 400);
  assert.equal(unpaired.body.error.path, "query.cursor");
});

test("export gives everything held on one person", async () => {
  await batch([
    {
      type: "identify",
      anonymousId: "exp-a",
      userId: "exp",
      traits: { email: "exp@example.com", name: "Ex" },
    },
    { type: "track", userId: "exp", event: "Order Completed", properties: { revenue: 12 } },
  ]);
  const [c] = (await get(`${f.server.url}/api/v1/customers?userId=exp`, f.w.adminKey)).body.customers;
  const r = await get(`${f.server.url}/api/v1/customers/${c.id}/export`, f.w.adminKey);
  assert.equal(r.status, 200);
  assert.equal(r.body.profile.email, "exp@example.com");
  assert.deepEqual(r.body.identities.map((i: any) => `${i.kind}:${i.value}`).sort(), [
    "anon:exp-a",
    "user:exp",
  ]);
  assert.equal(r.body.events.length, 2);
  assert.equal(r.body.profile.computed.revenue, 12);
});

test("erasure deletes the person within a second, keeps only salted hashes, refuses re-sent data, and is audited", async () => {
  await batch([
    {
      type: "identify",
      anonymousId: "era-a",
      userId: "era",
      traits: { email: "Era@Example.com", phone: "+14155550100" },
    },
    { type: "track", userId: "era", event: "Order Completed", properties: { revenue: 99 } },
  ]);
  const [c] = (await get(`${f.server.url}/api/v1/customers?userId=era`, f.w.adminKey)).body.customers;
  const started = Date.now();
  const r = await del(`/api/v1/customers/${c.id}`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { erased: true, events: 2 });
  assert.ok(Date.now() - started < 1000);

  assert.equal((await get(`${f.server.url}/api/v1/customers/${c.id}`, f.w.adminKey)).status, 404);
  assert.equal((await del(`/api/v1/customers/${c.id}`)).status, 404);
  const left = await f.t.db.pool.query(
    `SELECT (SELECT count(*) FROM events WHERE workspace_id = $1 AND customer_id = $2)::int AS events,
            (SELECT count(*) FROM identities WHERE workspace_id = $1 AND customer_id = $2)::int AS ids,
            (SELECT count(*) FROM suppressions WHERE workspace_id = $1)::int AS hashes`,
    [f.w.workspace.id, c.id],
  );
  assert.deepEqual(left.rows[0], { events: 0, ids: 0, hashes: 4 });
  const plain = await f.t.db.pool.query(
    "SELECT identifier_hash FROM suppressions WHERE identifier_hash LIKE '%era%'",
  );
  assert.equal(plain.rowCount, 0, "no identifier is kept in the clear");

  // Data sent again for the same person is refused item by item; others in the batch are kept.
  const again = await batch([
    { type: "track", userId: "era", event: "Came back" },
    { type: "identify", anonymousId: "new-device", traits: { email: "era@example.com" } },
    { type: "track", anonymousId: "era-a", event: "Old cookie" },
    { type: "track", userId: "someone-else", event: "Fine" },
  ]);
  assert.equal(again.body.accepted, 1);
  assert.deepEqual(
    again.body.rejected.map((x: any) => x.index),
    [0, 1, 2],
  );
  assert.match(again.body.rejected[0].reason, /erased/);
  assert.equal(
    (await get(`${f.server.url}/api/v1/customers?userId=era`, f.w.adminKey)).body.customers.length,
    0,
  );

  const audit = await f.t.db.pool.query(
    "SELECT action, target FROM audit_log WHERE workspace_id = $1 AND action = 'customer.erase'",
    [f.w.workspace.id],
  );
  assert.deepEqual(audit.rows, [{ action: "customer.erase", target: c.id }]);
});

test("bad ids and queries get 400/404 in the error shape", async () => {
  const notNumber = await get(`${f.server.url}/api/v1/customers/abc`, f.w.adminKey);
  assert.equal(notNumber.status, 400);
  assert.deepEqual(Object.keys(notNumber.body.error).sort(), ["code", "message", "path"]);
  assert.equal(notNumber.body.error.path, "params.id");
  const missing = await get(`${f.server.url}/api/v1/customers/999999999`, f.w.adminKey);
  assert.equal(missing.status, 404);
  const noQuery = await get(`${f.server.url}/api/v1/customers`, f.w.adminKey);
  assert.equal(noQuery.status, 400);
  assert.match(noQuery.body.error.message, /userId, anonymousId or email/);
  const badLimit = await get(`${f.server.url}/api/v1/customers/1/events?limit=0`, f.w.adminKey);
  assert.equal(badLimit.status, 400);
  assert.equal(badLimit.body.error.path, "query.limit");
});

test("keys: an admin creates and revokes keys of its own workspace; a revoked key is refused at once", async () => {
  const created = await post(
    `${f.server.url}/api/v1/keys`,
    { kind: "write" },
    { authorization: `Bearer ${f.w.adminKey}` },
  );
  assert.equal(created.status, 201);
  assert.match(created.body.key, /^tact_write_/);
  const send = () =>
    post(`${f.server.url}/v1/track`, { userId: "k", event: "e" }, { authorization: basic(created.body.key) });
  assert.equal((await send()).status, 200);
  const list = await get(`${f.server.url}/api/v1/keys`, f.w.adminKey);
  assert.ok(list.body.keys.some((k: any) => k.keyId === created.body.keyId));
  assert.ok(!JSON.stringify(list.body).includes(created.body.key), "secrets are never listed");
  assert.equal((await del(`/api/v1/keys/${created.body.keyId}`)).status, 200);
  assert.equal((await send()).status, 401);
});

test("the OpenAPI document describes every route from the schemas that validate them", async () => {
  const doc = (await get(`${f.server.url}/openapi.json`)).body;
  assert.equal(doc.openapi, "3.1.0");
  for (const path of [
    "/v1/identify",
    "/v1/track",
    "/v1/page",
    "/v1/screen",
    "/v1/group",
    "/v1/alias",
    "/v1/batch",
    "/api/v1/customers",
    "/api/v1/customers/{id}",
    "/api/v1/customers/{id}/events",
    "/api/v1/customers/{id}/export",
    "/api/v1/keys",
  ]) {
    assert.ok(doc.paths[path], path);
  }
  const list = doc.paths["/api/v1/customers/{id}/events"].get;
  assert.deepEqual(list.parameters.map((p: any) => `${p.in}:${p.name}`).sort(), [
    "path:id",
    "query:cursor",
    "query:limit",
  ]);
  assert.equal(list.parameters.find((p: any) => p.name === "limit").schema.maximum, 1000);
  assert.ok(doc.paths["/v1/track"].post.requestBody.content["application/json"].schema.properties.event);
  assert.ok(doc.paths["/api/v1/customers/{id}"].delete);
});
