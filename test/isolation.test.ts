// Workspaces are tenants: a key of one never sees or changes another's data, not even whether it exists.
// Write keys only send events; revoked keys are refused (at once through the API, within the key cache's
// lifetime through the store).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { CustomerProfile } from "../src/store/profiles.ts";
import { createKey, listKeys, revokeKey } from "../src/store/workspaces.ts";
import {
  basic,
  get,
  post,
  startServer,
  type TestDb,
  type TestServer,
  type TestWorkspace,
  testDb,
  testWorkspace,
} from "./helpers.ts";

interface StoredEvent {
  messageId: string;
  type: string;
  name: string | null;
  properties: Record<string, unknown>;
}

interface ErrorReply {
  error: { code: string; message: string; path: string };
}

let tdb: TestDb;
let server: TestServer;
let A: TestWorkspace;
let B: TestWorkspace;
/** A's customers: one identified with orders, one merged away into it, one to erase */
let aCustomer: CustomerProfile;
let aMergedAwayId: string;
let aIds: string[];

before(async () => {
  tdb = await testDb();
  server = await startServer(tdb.db);
  A = await testWorkspace(tdb.db);
  B = await testWorkspace(tdb.db);
  const r = await post(
    `${server.url}/v1/batch`,
    {
      batch: [
        { type: "page", anonymousId: "visitor-1", name: "Home", messageId: "a-m1" },
        {
          type: "identify",
          userId: "shared-user",
          traits: { ws: "A", email: "shared@example.com" },
          messageId: "a-m2",
        },
        {
          type: "track",
          userId: "shared-user",
          event: "Order Completed",
          properties: { revenue: 40 },
          messageId: "a-m3",
        },
        {
          type: "identify",
          userId: "erase-me",
          anonymousId: "erase-anon",
          traits: { ws: "A" },
          messageId: "a-m4",
        },
      ],
    },
    { authorization: basic(A.writeKey) },
  );
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.accepted, 4);
  // alias folds the anonymous visitor into shared-user: its old id now answers with the survivor
  const visitor = await findOne(A, "anonymousId", "visitor-1");
  const alias = await post(
    `${server.url}/v1/alias`,
    { previousId: "visitor-1", userId: "shared-user", messageId: "a-m5" },
    { authorization: basic(A.writeKey) },
  );
  assert.equal(alias.status, 200, JSON.stringify(alias.body));
  aCustomer = await findOne(A, "userId", "shared-user");
  assert.ok(aCustomer.mergedFrom.includes(visitor.id), "the visitor was merged into shared-user");
  aMergedAwayId = visitor.id;
  aIds = [aCustomer.id, aMergedAwayId, (await findOne(A, "userId", "erase-me")).id];
});

after(async () => {
  await server?.close();
  await tdb?.close();
});

async function find(w: TestWorkspace, by: string, value: string): Promise<CustomerProfile[]> {
  const r = await get(`${server.url}/api/v1/customers?${by}=${encodeURIComponent(value)}`, w.adminKey);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.customers as CustomerProfile[];
}

async function findOne(w: TestWorkspace, by: string, value: string): Promise<CustomerProfile> {
  const list = await find(w, by, value);
  assert.equal(list.length, 1, `one customer with ${by}=${value}: ${JSON.stringify(list)}`);
  return list[0] as CustomerProfile;
}

async function request(method: string, path: string, key: string, body?: unknown) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as unknown };
}

async function eventsOf(w: TestWorkspace, id: string): Promise<StoredEvent[]> {
  const r = await get(`${server.url}/api/v1/customers/${id}/events?limit=1000`, w.adminKey);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.events as StoredEvent[];
}

const keyIdOf = (key: string) => key.split("_")[2] as string;

/** Polls until check() holds, or fails after timeoutMs; returns the time it took. */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 5000): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test("B's admin key cannot read, export, page or erase A's customers, even with their real ids: 404 as for no one", async () => {
  const nobody = "987654321987";
  const shape = async (path: string, method = "GET") => {
    const r = await request(method, path, B.adminKey);
    assert.equal(r.status, 404, `B ${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
    const e = (r.body as ErrorReply).error;
    assert.equal(e.code, "not_found");
    // the answer for A's real customer is the answer for a customer that exists nowhere
    return JSON.stringify(r.body).replaceAll(path.split("/")[4] ?? "", "<id>");
  };
  for (const id of aIds) {
    for (const [suffix, method] of [
      ["", "GET"],
      ["/events", "GET"],
      ["/events?limit=1", "GET"],
      ["/export", "GET"],
      ["", "DELETE"],
    ] as const) {
      const path = `/api/v1/customers/${id}${suffix}`;
      const other = `/api/v1/customers/${nobody}${suffix}`;
      assert.equal(
        await shape(path, method),
        await shape(other, method),
        `${method} ${path}: same as for no one`,
      );
    }
  }
  // Lookups by A's identifiers find nothing in B.
  assert.deepEqual(await find(B, "userId", "shared-user"), []);
  assert.deepEqual(await find(B, "anonymousId", "visitor-1"), []);
  assert.deepEqual(await find(B, "email", "shared@example.com"), []);

  // A's data is untouched by B's erase attempts.
  for (const id of aIds) {
    const r = await get(`${server.url}/api/v1/customers/${id}`, A.adminKey);
    assert.equal(r.status, 200, `A still has ${id}`);
  }
  const events = await eventsOf(A, aCustomer.id);
  assert.deepEqual(events.map((e) => e.messageId).sort(), ["a-m1", "a-m2", "a-m3", "a-m5"]);
  const exp = await get(`${server.url}/api/v1/customers/${aCustomer.id}/export`, A.adminKey);
  assert.equal(exp.status, 200);
  assert.equal(exp.body.profile.id, aCustomer.id);
});

test("B's write key sends events that land only in B: the same userId makes two separate customers", async () => {
  const headers = { authorization: basic(B.writeKey) };
  const r = await post(
    `${server.url}/v1/batch`,
    {
      batch: [
        // the same messageIds as A's: idempotency is per workspace, so these are new events in B
        { type: "identify", userId: "shared-user", traits: { ws: "B", plan: "b-only" }, messageId: "a-m2" },
        {
          type: "track",
          userId: "shared-user",
          event: "Order Completed",
          properties: { revenue: 7 },
          messageId: "a-m3",
        },
        { type: "page", anonymousId: "visitor-1", name: "B home", messageId: "b-m1" },
      ],
    },
    headers,
  );
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(
    { accepted: r.body.accepted, duplicates: r.body.duplicates },
    { accepted: 3, duplicates: 0 },
  );
  // The write key in the body, not the header, also targets B.
  const inBody = await post(`${server.url}/v1/track`, {
    writeKey: B.writeKey,
    userId: "shared-user",
    event: "Body Key",
    messageId: "b-m2",
  });
  assert.equal(inBody.status, 200, JSON.stringify(inBody.body));

  const b = await findOne(B, "userId", "shared-user");
  const a = await findOne(A, "userId", "shared-user");
  assert.notEqual(b.id, a.id, "two customers, one per workspace");
  assert.equal(b.traits.ws, "B");
  assert.equal(b.traits.plan, "b-only");
  assert.equal(b.computed.orders, 1);
  assert.equal(b.computed.revenue, 7);
  assert.equal(a.traits.ws, "A", "A's traits are not overwritten by B's identify");
  assert.equal(a.traits.plan, undefined);
  assert.equal(a.computed.orders, 1);
  assert.equal(a.computed.revenue, 40);

  const bEvents = await eventsOf(B, b.id);
  assert.deepEqual(bEvents.map((e) => e.messageId).sort(), ["a-m2", "a-m3", "b-m2"]);
  assert.deepEqual((await eventsOf(A, a.id)).map((e) => e.messageId).sort(), [
    "a-m1",
    "a-m2",
    "a-m3",
    "a-m5",
  ]);
  // B's anonymous visitor-1 is a new customer of B, not A's merged visitor
  const bVisitor = await findOne(B, "anonymousId", "visitor-1");
  assert.ok(!aIds.includes(bVisitor.id));
  assert.notEqual(bVisitor.id, b.id, "no alias in B: the visitor stays on its own");

  // Each admin key sees its own customer under the other's id as not found.
  assert.equal((await get(`${server.url}/api/v1/customers/${b.id}`, A.adminKey)).status, 404);
  assert.equal((await get(`${server.url}/api/v1/customers/${a.id}`, B.adminKey)).status, 404);
});

test("erasure in A suppresses the person in A only; B can still record the same identifiers", async () => {
  const erasee = await findOne(A, "userId", "erase-me");
  const del = await request("DELETE", `/api/v1/customers/${erasee.id}`, A.adminKey);
  assert.equal(del.status, 200, JSON.stringify(del.body));
  const again = await post(
    `${server.url}/v1/identify`,
    { userId: "erase-me", traits: { back: true } },
    { authorization: basic(A.writeKey) },
  );
  assert.equal(again.status, 400, "A refuses the erased person's data");
  const inB = await post(
    `${server.url}/v1/identify`,
    { userId: "erase-me", anonymousId: "erase-anon", traits: { ws: "B" } },
    { authorization: basic(B.writeKey) },
  );
  assert.equal(inB.status, 200, `B is not affected by A's suppression list: ${JSON.stringify(inB.body)}`);
  assert.equal((await findOne(B, "userId", "erase-me")).traits.ws, "B");
  assert.deepEqual(await find(A, "userId", "erase-me"), []);
});

test("a write key cannot call any admin endpoint: 403 (Bearer), 401 (Basic, not an admin credential)", async () => {
  const doc = (await get(`${server.url}/openapi.json`)).body as {
    paths: Record<string, Record<string, { security?: Record<string, unknown>[] }>>;
  };
  let checked = 0;
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      if (!op.security?.some((s) => "adminKey" in s)) continue;
      const url = path.replace("{id}", aCustomer.id).replace("{keyId}", keyIdOf(A.adminKey));
      const body = method === "post" ? { kind: "admin" } : undefined;
      const bearer = await request(method.toUpperCase(), url, A.writeKey, body);
      assert.equal(bearer.status, 403, `write key on ${method} ${url} → ${JSON.stringify(bearer.body)}`);
      assert.equal((bearer.body as ErrorReply).error.code, "forbidden");
      const res = await fetch(`${server.url}${url}`, {
        method: method.toUpperCase(),
        headers: { authorization: basic(A.writeKey), "content-type": "application/json" },
        body: body ? JSON.stringify(body) : undefined,
      });
      assert.equal(res.status, 401, `Basic write key on ${method} ${url}`);
      checked++;
    }
  }
  assert.ok(checked >= 5, `admin endpoints checked: ${checked}`);
  // Nothing happened: A's admin key was not revoked, no admin key was created, the customer is there.
  assert.equal((await get(`${server.url}/api/v1/customers/${aCustomer.id}`, A.adminKey)).status, 200);
  const keys = await listKeys(tdb.db, A.workspace.name);
  assert.equal(keys.filter((k) => k.kind === "admin").length, 1);
  assert.ok(keys.every((k) => k.revokedAt === null));
});

test("keys listing: B's admin key sees only B's keys; B cannot revoke A's keys", async () => {
  const aKeys = await listKeys(tdb.db, A.workspace.name);
  const bKeys = await listKeys(tdb.db, B.workspace.name);
  const r = await get(`${server.url}/api/v1/keys`, B.adminKey);
  assert.equal(r.status, 200);
  const listed = (r.body.keys as { keyId: string }[]).map((k) => k.keyId).sort();
  assert.deepEqual(listed, bKeys.map((k) => k.keyId).sort());
  for (const k of aKeys) assert.ok(!listed.includes(k.keyId), `A's key ${k.keyId} is not listed to B`);
  assert.ok(!JSON.stringify(r.body).includes(B.adminKey.split("_")[3] ?? "-"), "no secrets in the listing");

  for (const k of aKeys) {
    const del = await request("DELETE", `/api/v1/keys/${k.keyId}`, B.adminKey);
    assert.equal(del.status, 404, `B revoking A's ${k.kind} key → ${JSON.stringify(del.body)}`);
    // and with the whole key, which the store also accepts
    const whole = k.kind === "write" ? A.writeKey : A.adminKey;
    const del2 = await request("DELETE", `/api/v1/keys/${encodeURIComponent(whole)}`, B.adminKey);
    assert.equal(del2.status, 404, `B revoking A's whole ${k.kind} key → ${JSON.stringify(del2.body)}`);
  }
  assert.ok(
    (await listKeys(tdb.db, A.workspace.name)).every((k) => k.revokedAt === null),
    "A's keys are intact",
  );
  const send = await post(
    `${server.url}/v1/track`,
    { userId: "still-works", event: "e" },
    { authorization: basic(A.writeKey) },
  );
  assert.equal(send.status, 200);
  assert.equal((await get(`${server.url}/api/v1/keys`, A.adminKey)).status, 200);

  // A key B creates belongs to B, is listed to B and not to A.
  const created = await request("POST", "/api/v1/keys", B.adminKey, { kind: "write" });
  assert.equal(created.status, 201);
  const newId = (created.body as { keyId: string }).keyId;
  const aList = (await get(`${server.url}/api/v1/keys`, A.adminKey)).body.keys as { keyId: string }[];
  assert.ok(!aList.some((k) => k.keyId === newId));
  const bList = (await get(`${server.url}/api/v1/keys`, B.adminKey)).body.keys as { keyId: string }[];
  assert.ok(bList.some((k) => k.keyId === newId));
});

test("a key revoked through the admin API is refused at once (401), even just after it was used", async () => {
  const created = await request("POST", "/api/v1/keys", A.adminKey, { kind: "write" });
  assert.equal(created.status, 201);
  const { key, keyId } = created.body as { key: string; keyId: string };
  const send = () =>
    post(`${server.url}/v1/track`, { userId: "revoke-api", event: "e" }, { authorization: basic(key) });
  assert.equal((await send()).status, 200, "the new key works (and is now in the key cache)");
  assert.equal((await request("DELETE", `/api/v1/keys/${keyId}`, A.adminKey)).status, 200);
  const refused = await send();
  assert.equal(refused.status, 401);
  assert.equal(refused.body.error.code, "unauthorized");
  // revoking twice: the key is no longer active
  assert.equal((await request("DELETE", `/api/v1/keys/${keyId}`, A.adminKey)).status, 404);

  // An admin key too: a second admin key revokes the first.
  const second = await request("POST", "/api/v1/keys", A.adminKey, { kind: "admin" });
  assert.equal(second.status, 201);
  const admin2 = (second.body as { key: string }).key;
  const tmpAdmin = await request("POST", "/api/v1/keys", admin2, { kind: "admin" });
  const tmp = tmpAdmin.body as { key: string; keyId: string };
  assert.equal((await get(`${server.url}/api/v1/keys`, tmp.key)).status, 200);
  assert.equal((await request("DELETE", `/api/v1/keys/${tmp.keyId}`, admin2)).status, 200);
  assert.equal((await get(`${server.url}/api/v1/keys`, tmp.key)).status, 401);
  assert.equal((await get(`${server.url}/api/v1/customers/${aCustomer.id}`, tmp.key)).status, 401);
});

test("a key revoked in the store directly is refused once the 1 s key cache expires", async () => {
  for (const kind of ["write", "admin"] as const) {
    const created = await createKey(tdb.db, A.workspace.name, kind);
    const use = async () =>
      kind === "write"
        ? (
            await post(
              `${server.url}/v1/track`,
              { userId: "revoke-store", event: "e" },
              { authorization: basic(created.key) },
            )
          ).status
        : (await get(`${server.url}/api/v1/keys`, created.key)).status;
    assert.equal(await use(), 200, `the new ${kind} key works (and is now cached)`);
    await revokeKey(tdb.db, created.keyId);
    const took = await eventually(`the revoked ${kind} key is refused`, async () => (await use()) === 401);
    assert.ok(took <= 3000, `refused ${took} ms after revocation (cache TTL 1 s)`);
    // and stays refused
    assert.equal(await use(), 401);
  }
  // revoking by the whole key works as well
  const whole = await createKey(tdb.db, B.workspace.name, "write");
  await revokeKey(tdb.db, whole.key);
  const r = await post(
    `${server.url}/v1/track`,
    { userId: "x", event: "e" },
    { authorization: basic(whole.key) },
  );
  assert.equal(r.status, 401);
  const keys = await listKeys(tdb.db, B.workspace.name);
  assert.ok(keys.find((k) => k.keyId === whole.keyId)?.revokedAt, "listed as revoked");
});

test("unknown and malformed keys are refused with 401 on both kinds of endpoint", async () => {
  for (const key of [
    "",
    "nope",
    `${A.writeKey}x`,
    A.writeKey.slice(0, -1),
    `tact_admin_${keyIdOf(A.adminKey)}_wrong`,
  ]) {
    const t = await post(
      `${server.url}/v1/track`,
      { userId: "u", event: "e" },
      { authorization: basic(key) },
    );
    assert.equal(t.status, 401, `tracking with ${JSON.stringify(key)}`);
    const a = await request("GET", "/api/v1/keys", key);
    assert.equal(a.status, 401, `admin with ${JSON.stringify(key)}`);
    assert.equal((a.body as ErrorReply).error.path, "authorization");
  }
});
