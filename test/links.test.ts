// The signed links inside messages, through the HTTP server: open pixel, click redirect, unsubscribe page and
// RFC 8058 one-click POST; and that a tampered or foreign token is a 400 that changes nothing.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type LinkClaims, messageLinks, signLink } from "../src/channels/links.ts";
import { systemClock } from "../src/core/clock.ts";
import { buildApp } from "../src/server/app.ts";
import { registerLinks } from "../src/server/routes/links.ts";
import { linkSecret } from "../src/store/message-feedback.ts";
import { basic, get, post, type TestDb, type TestWorkspace, testDb, testWorkspace } from "./helpers.ts";

let t: TestDb;
let w: TestWorkspace;
let url: string;
let close: () => Promise<void>;
let secret: string;

before(async () => {
  t = await testDb();
  const app = await buildApp({ db: t.db, clock: systemClock, logger: false });
  // until the app registers the link routes itself; a second registration is a no-op
  registerLinks(app, t.db, systemClock);
  await app.listen({ port: 0, host: "127.0.0.1" });
  const addr = app.server.address();
  url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  close = () => app.close();
  w = await testWorkspace(t.db);
  secret = (await linkSecret(t.db, w.workspace.id)) ?? "";
  assert.ok(secret.length >= 32, "a link secret is made on first use");
});
after(async () => {
  await close?.();
  await t?.close();
});

interface Recipient {
  customerId: string;
  messageId: string;
}

/** A customer who opted in to email and a message sent to them, written as the engine would. */
async function recipient(): Promise<Recipient> {
  const now = new Date();
  const c = await t.db.pool.query<{ customer_id: string }>(
    `INSERT INTO customers (workspace_id, customer_id, email, consents)
     VALUES ($1, nextval('customer_id_seq'), 'anna@example.com', $2::jsonb) RETURNING customer_id`,
    [w.workspace.id, JSON.stringify({ email: { state: "opted_in", at: "2026-01-01T00:00:00.000Z" } })],
  );
  const customerId = c.rows[0]?.customer_id ?? "";
  const m = await t.db.pool.query<{ message_id: string }>(
    `INSERT INTO messages (workspace_id, customer_id, scenario, entry_id, step_id, channel, template, fate,
                           planned_at, sent_at, updated_at)
     VALUES ($1, $2, 'spring', $3, '0', 'email', 'tulips', 'sent', $4, $4, $4) RETURNING message_id`,
    [w.workspace.id, customerId, customerId, now],
  );
  return { customerId, messageId: m.rows[0]?.message_id ?? "" };
}

function linksOf(r: Recipient) {
  return messageLinks(url, secret, { workspaceId: w.workspace.id, channel: "email", ...r });
}

async function fate(r: Recipient): Promise<string | undefined> {
  const { rows } = await t.db.pool.query<{ fate: string }>(
    "SELECT fate FROM messages WHERE workspace_id = $1 AND message_id = $2",
    [w.workspace.id, r.messageId],
  );
  return rows[0]?.fate;
}

async function events(r: Recipient): Promise<{ name: string; properties: Record<string, string> }[]> {
  const { rows } = await t.db.pool.query<{ name: string; properties: Record<string, string> }>(
    "SELECT name, properties FROM events WHERE workspace_id = $1 AND customer_id = $2 ORDER BY received_at",
    [w.workspace.id, r.customerId],
  );
  return rows;
}

async function emailConsent(r: Recipient): Promise<string | undefined> {
  const res = await get(`${url}/api/v1/customers/${r.customerId}`, w.adminKey);
  assert.equal(res.status, 200);
  return res.body.consents?.email?.state;
}

test("the open pixel answers a GIF, records message_opened once and raises the fate", async () => {
  const r = await recipient();
  const res = await fetch(linksOf(r).openPixel);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "image/gif");
  assert.equal(
    Buffer.from(await res.arrayBuffer())
      .subarray(0, 6)
      .toString("latin1"),
    "GIF89a",
  );
  assert.equal(await fate(r), "opened");
  await fetch(linksOf(r).openPixel);
  const evs = await events(r);
  assert.deepEqual(
    evs.map((e) => e.name),
    ["message_opened"],
  );
  assert.equal(evs[0]?.properties.message_id, r.messageId);
  assert.equal(evs[0]?.properties.scenario, "spring");
});

test("a click redirects to exactly the signed target and records message_clicked", async () => {
  const r = await recipient();
  const target = "https://shop.example/tulips?a=1&b=%20x&c=%D1%86#top";
  const res = await fetch(linksOf(r).click(target), { redirect: "manual" });
  assert.equal(res.status, 302);
  assert.equal(res.headers.get("location"), target);
  assert.equal(await fate(r), "clicked");
  await fetch(linksOf(r).openPixel); // an open seen after the click does not lower the fate
  assert.equal(await fate(r), "clicked");
  const evs = await events(r);
  assert.deepEqual(evs.map((e) => e.name).sort(), ["message_clicked", "message_opened"]);
  assert.equal(evs.find((e) => e.name === "message_clicked")?.properties.url, target);
});

test("a click token cannot be bent into an open redirect", async () => {
  const r = await recipient();
  const token = linksOf(r).click("https://shop.example/ok").split("/c/")[1] ?? "";
  const [payload, signature] = token.split(".");
  const claims = JSON.parse(Buffer.from(payload ?? "", "base64url").toString("utf8"));
  claims.u = "https://evil.example/phish";
  const forged = `${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${signature}`;
  for (const bad of [forged, linksOf(r).openPixel.split("/o/")[1] ?? "", "not-a-token"]) {
    const res = await fetch(`${url}/c/${bad}`, { redirect: "manual" });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get("location"), null);
    const body = await res.json();
    assert.equal(body.error.code, "invalid_link");
  }
  assert.throws(() =>
    signLink(secret, { ...claimsOf(r), kind: "click", target: "javascript:alert(1)" } as LinkClaims),
  );
  assert.equal(linksOf(r).click("javascript:alert(1)"), "javascript:alert(1)", "only http(s) is ever signed");
  assert.deepEqual(await events(r), []);
  assert.equal(await fate(r), "sent");
});

function claimsOf(r: Recipient) {
  return { workspaceId: w.workspace.id, channel: "email", ...r };
}

test("GET on the unsubscribe link shows a confirmation page and changes nothing", async () => {
  const r = await recipient();
  const res = await fetch(linksOf(r).unsubscribe);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
  const html = await res.text();
  assert.match(html, /<form method="post"/);
  assert.match(html, /<button type="submit">Unsubscribe<\/button>/);
  assert.equal(await emailConsent(r), "opted_in");
  assert.deepEqual(await events(r), []);
});

test("the one-click POST unsubscribes within a second, whatever the content type", async () => {
  const bodies: [string | undefined, string][] = [
    ["application/x-www-form-urlencoded", "List-Unsubscribe=One-Click"],
    [
      "multipart/form-data; boundary=x",
      '--x\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--x--\r\n',
    ],
    ["text/plain", "List-Unsubscribe=One-Click"],
    [undefined, "List-Unsubscribe=One-Click"],
  ];
  for (const [type, body] of bodies) {
    const r = await recipient();
    const started = Date.now();
    const res = await fetch(linksOf(r).unsubscribe, {
      method: "POST",
      headers: type ? { "content-type": type } : {},
      body,
    });
    assert.equal(res.status, 200, `content type ${type}`);
    assert.ok(Date.now() - started < 1000, "answered within a second");
    assert.equal(await emailConsent(r), "unsubscribed", `content type ${type}`);
    assert.ok(Date.now() - started < 1000, "in force within a second");
    // a mail provider may POST again: still unsubscribed, recorded once
    assert.equal((await fetch(linksOf(r).unsubscribe, { method: "POST", body })).status, 200);
    const evs = await events(r);
    assert.deepEqual(
      evs.map((e) => [e.name, e.properties.channel]),
      [["unsubscribed", "email"]],
    );
    const due = await t.db.pool.query(
      "SELECT 1 FROM membership_due WHERE workspace_id = $1 AND customer_id = $2",
      [w.workspace.id, r.customerId],
    );
    assert.equal(due.rowCount, 1, "the customer is due for membership evaluation");
  }
});

test("a tampered or foreign unsubscribe token is a 400 and changes nothing", async () => {
  const r = await recipient();
  const token = linksOf(r).unsubscribe.split("/u/")[1] ?? "";
  const flipped = `${token.slice(0, -2)}${token.at(-2) === "A" ? "B" : "A"}${token.at(-1)}`;
  const other = await testWorkspace(t.db);
  const otherSecret = (await linkSecret(t.db, other.workspace.id)) ?? "";
  // signed with another workspace's secret while claiming this workspace
  const foreign = signLink(otherSecret, { ...claimsOf(r), kind: "unsubscribe" });
  const openToken = linksOf(r).openPixel.split("/o/")[1] ?? "";
  for (const bad of [flipped, foreign, openToken, `${token}x`, "%00", "a".repeat(5000)]) {
    for (const method of ["GET", "POST"]) {
      const res = await fetch(`${url}/u/${bad}`, {
        method,
        body: method === "POST" ? "List-Unsubscribe=One-Click" : undefined,
      });
      assert.equal(res.status, 400, `${method} ${bad.slice(0, 40)}`);
      const body = await res.json();
      assert.deepEqual(Object.keys(body.error).sort(), ["code", "message", "path"]);
    }
  }
  assert.equal(await emailConsent(r), "opted_in");
  assert.deepEqual(await events(r), []);
});

test("the JSON API still parses its bodies beside the link routes", async () => {
  const res = await post(
    `${url}/v1/identify`,
    { userId: "u-links", traits: { email: "u@example.com" } },
    { authorization: basic(w.writeKey) },
  );
  assert.equal(res.status, 200);
  const bad = await post(`${url}/v1/identify`, "{not json", { authorization: basic(w.writeKey) });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, "invalid_json");
});
