// Email end to end: an event through the tracking API starts a scenario, the engine decides by the rules and
// sends over SMTP to a real server on loopback; the message carries the one-click unsubscribe, whose POST stops all
// later marketing on the channel; quiet hours defer, frequency caps suppress, and every fate has its reason.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { simpleParser } from "mailparser";
import { VirtualClock } from "../src/core/clock.ts";
import { Engine } from "../src/engine/engine.ts";
import { basic, get, post, serverFixture } from "./helpers.ts";
import { TestSmtp } from "./smtp-server.ts";

const HOUR = 3_600_000;
const clock = new VirtualClock("2026-03-02T10:00:00Z"); // 11:00 in Berlin
const smtp = new TestSmtp();
let engine: Engine;

const f = serverFixture({
  clock,
  onReady: (fx) => {
    engine = new Engine(fx.t.db, clock, { publicUrl: fx.server.url, env: {} });
  },
});

before(() => smtp.listen());
after(async () => {
  await engine?.stop();
  await smtp.close();
});

const strategy = (port: number) => `version: 1
name: Shop
timezone: Europe/Berlin
currency: EUR
goals:
  purchase: { event: order_completed, window: 14d, target: 5% }
channels:
  email: { provider: smtp, host: 127.0.0.1, port: ${port}, from: "Shop <shop@example.com>", cost: 0.01 }
rules:
  consent: opt_in
  quiet_hours: "21:00-09:00"
  frequency:
    - { max: 2, per: 7d }
  control_group: 0%
scenarios:
  browse_reminder:
    goal: purchase
    trigger: { event: product_viewed }
    reentry: 1h
    steps:
      - send: reminder
        via: [email]
  confirm_subscription:
    kind: transactional
    goal: purchase
    trigger: { event: signed_up }
    steps:
      - send: confirm
        via: [email]
templates:
  confirm:
    email: { subject: "Please confirm", html: "<p><a href='{{ confirm_url }}'>Yes, send me news</a></p>" }
  reminder:
    email:
      subject: "Still thinking about {{ event.properties.product }}, {{ customer.first_name | default: 'friend' }}?"
      html: "<p>It is waiting for you: <a href='https://shop.example.com/p/1'>see it</a>. <a href='{{ unsubscribe_url }}'>Unsubscribe</a></p>"
`;

/** A header as sent (mailparser turns some into structures). */
const header = (mail: { headerLines: readonly { key: string; line: string }[] }, name: string) =>
  mail.headerLines
    .find((h) => h.key === name)
    ?.line.replace(/\r?\n[ \t]+/g, " ")
    .replace(/^[^:]+:\s*/, "") ?? "";

const track = (items: unknown[]) =>
  post(`${f.server.url}/v1/batch`, { batch: items }, { authorization: basic(f.w.writeKey) });

async function fates(userId: string): Promise<{ fate: string; reason: string | null }[]> {
  const [c] = (await get(`${f.server.url}/api/v1/customers?userId=${userId}`, f.w.adminKey)).body.customers;
  const r = await get(`${f.server.url}/api/v1/customers/${c.id}/messages`, f.w.adminKey);
  assert.equal(r.status, 200);
  return r.body.messages.map((m: { fate: string; reason: string | null }) => ({
    fate: m.fate,
    reason: m.reason,
  }));
}

test("a tracked event becomes an email at the SMTP server, with List-Unsubscribe and tracked links", async () => {
  const applied = await post(
    `${f.server.url}/api/v1/strategy`,
    { source: strategy(smtp.port) },
    { authorization: `Bearer ${f.w.adminKey}` },
  );
  assert.equal(applied.status, 201, JSON.stringify(applied.body));
  await track([
    {
      type: "identify",
      userId: "ann",
      traits: { email: "ann@example.com", first_name: "Ann", consent: { email: "opted_in" } },
    },
    { type: "track", userId: "ann", event: "product_viewed", properties: { product: "tulips" } },
  ]);
  await engine.runOnce();
  assert.equal(smtp.received.length, 1);
  const mail = await simpleParser(smtp.received[0]?.raw as Buffer);
  assert.equal(mail.subject, "Still thinking about tulips, Ann?");
  assert.deepEqual(smtp.received[0]?.recipients, ["ann@example.com"]);
  assert.equal(header(mail, "list-unsubscribe-post"), "List-Unsubscribe=One-Click");
  assert.match(String(mail.html), new RegExp(`${f.server.url}/c/`));
  assert.deepEqual(await fates("ann"), [{ fate: "sent", reason: "only_channel" }]);
});

test("quiet hours defer to their end; the frequency cap suppresses with its reason", async () => {
  clock.set(new Date("2026-03-02T21:30:00Z")); // 22:30 in Berlin
  await track([{ type: "track", userId: "ann", event: "product_viewed", properties: { product: "roses" } }]);
  await engine.runOnce();
  assert.equal(smtp.received.length, 1, "nothing in quiet hours");
  assert.equal((await fates("ann"))[0]?.fate, "deferred");
  clock.set(new Date("2026-03-03T08:01:00Z")); // 09:01 in Berlin
  await engine.runOnce();
  assert.equal(smtp.received.length, 2);
  clock.advance(2 * HOUR);
  await track([{ type: "track", userId: "ann", event: "product_viewed", properties: { product: "lilies" } }]);
  await engine.runOnce();
  assert.equal(smtp.received.length, 2, "a third email in 7 days is capped");
  assert.deepEqual((await fates("ann"))[0], { fate: "suppressed", reason: "frequency_capped" });
});

test("the one-click unsubscribe stops all later marketing email to that person", async () => {
  await track([
    { type: "identify", userId: "bob", traits: { email: "bob@example.com", consent: { email: "opted_in" } } },
    { type: "track", userId: "bob", event: "product_viewed", properties: { product: "peonies" } },
  ]);
  await engine.runOnce();
  const mail = await simpleParser(smtp.received.at(-1)?.raw as Buffer);
  const list = header(mail, "list-unsubscribe");
  const url = /<(https?:[^>]+)>/.exec(list)?.[1];
  assert.ok(url, list);
  const res = await fetch(url, { method: "POST", body: "List-Unsubscribe=One-Click" });
  assert.equal(res.status, 200);
  clock.advance(2 * HOUR);
  const before = smtp.received.length;
  await track([
    { type: "track", userId: "bob", event: "product_viewed", properties: { product: "daisies" } },
  ]);
  await engine.runOnce();
  assert.equal(smtp.received.length, before);
  assert.equal((await fates("bob"))[0]?.reason, "no_consent");
});

test("an address the SMTP server says does not exist is not tried again while the customer keeps it", async () => {
  const sent = smtp.received.length;
  const dan = (traits: Record<string, unknown>) => ({ type: "identify", userId: "dan", traits });
  const viewed = { type: "track", userId: "dan", event: "product_viewed", properties: { product: "irises" } };
  await track([dan({ email: "unknown-dan@example.com", consent: { email: "opted_in" } }), viewed]);
  await engine.runOnce();
  const [failed] = await fates("dan");
  assert.equal(failed?.fate, "failed");
  assert.match(failed?.reason ?? "", /550/);
  const [profile] = (await get(`${f.server.url}/api/v1/customers?userId=dan`, f.w.adminKey)).body.customers;
  assert.deepEqual(
    [profile.undeliverable.email?.address, profile.undeliverable.email?.reason],
    ["unknown-dan@example.com", "hard_bounced"],
  );
  // a later marketing email and a transactional one: the address is known not to work
  clock.advance(2 * HOUR);
  await track([viewed, { type: "track", userId: "dan", event: "signed_up" }]);
  await engine.runOnce();
  assert.deepEqual(
    (await fates("dan")).slice(0, 2).map((m) => m.reason),
    ["unreachable", "unreachable"],
  );
  assert.equal(smtp.received.length, sent, "nothing more was offered to the server");
  // a new address is tried
  clock.advance(2 * HOUR);
  await track([dan({ email: "dan@example.com" }), viewed]);
  await engine.runOnce();
  assert.deepEqual(smtp.received.at(-1)?.recipients, ["dan@example.com"]);
  assert.equal((await fates("dan"))[0]?.fate, "sent");
});

test("double opt-in: the confirmation link of a transactional email turns the consent to opted_in", async () => {
  await track([
    { type: "identify", userId: "cat", traits: { email: "cat@example.com" } },
    { type: "track", userId: "cat", event: "signed_up" },
  ]);
  await engine.runOnce();
  const mail = await simpleParser(smtp.received.at(-1)?.raw as Buffer);
  assert.equal(mail.subject, "Please confirm");
  // Tact's own links are not wrapped in click tracking
  const confirmUrl = /href=["']([^"']+\/k\/[^"']+)["']/.exec(String(mail.html))?.[1] ?? "";
  assert.ok(confirmUrl, String(mail.html));
  const [before] = (await get(`${f.server.url}/api/v1/customers?userId=cat`, f.w.adminKey)).body.customers;
  assert.equal(before.consents.email, undefined, "no consent before the link is followed");
  assert.equal((await fetch(confirmUrl)).status, 200);
  const [after] = (await get(`${f.server.url}/api/v1/customers?userId=cat`, f.w.adminKey)).body.customers;
  assert.equal(after.consents.email.state, "opted_in");
});

/** A delivery status notification as a mail system writes it, returning the bounced message's headers. */
function bounceOf(raw: Buffer, status: string, diagnostic: string, action = "failed"): string {
  const headers = raw.toString("utf8").split(/\r?\n\r?\n/, 1)[0];
  return [
    "From: MAILER-DAEMON@mx.example.com",
    "Subject: Undelivered Mail Returned to Sender",
    'Content-Type: multipart/report; report-type=delivery-status; boundary="b0"',
    "",
    "--b0",
    "Content-Type: text/plain",
    "",
    "Your message could not be delivered.",
    "--b0",
    "Content-Type: message/delivery-status",
    "",
    "Reporting-MTA: dns; mx.example.com",
    "",
    "Final-Recipient: rfc822; Eve@Example.com",
    `Action: ${action}`,
    `Status: ${status}`,
    `Diagnostic-Code: smtp; ${diagnostic}`,
    "",
    "--b0",
    "Content-Type: text/rfc822-headers",
    "",
    headers,
    "--b0--",
    "",
  ].join("\r\n");
}

test("a bounce the mail system reports later marks the message bounced and, if hard, the address", async () => {
  const eve = (traits: Record<string, unknown>) => ({ type: "identify", userId: "eve", traits });
  const viewed = { type: "track", userId: "eve", event: "product_viewed", properties: { product: "asters" } };
  await track([eve({ email: "eve@example.com", consent: { email: "opted_in" } }), viewed]);
  await engine.runOnce();
  const raw = smtp.received.at(-1)?.raw as Buffer;
  const ref = header(await simpleParser(raw), "x-tact-ref");
  assert.ok(ref, "every email carries its signed reference");
  const url = `${f.server.url}/api/v1/channels/email/callbacks`;
  const report = (body: string, auth = basic(f.w.writeKey), channel = "email") =>
    post(url.replace("/email/", `/${channel}/`), body, {
      authorization: auth,
      "content-type": "message/rfc822",
    });
  const dsn = bounceOf(raw, "5.1.1", "550 5.1.1 <eve@example.com>: user unknown");

  // refused, and nothing changes: a forged reference, no key, an unknown channel, a body that is no report
  const forged = await report(dsn.replace(ref, `${ref.slice(0, -2)}xx`));
  assert.deepEqual([forged.status, forged.body.error.code], [400, "invalid_reference"]);
  assert.equal((await report(dsn, "")).status, 401);
  assert.deepEqual([(await report(dsn, basic(f.w.writeKey), "sms")).status], [404]);
  const junk = await report("hello");
  assert.deepEqual([junk.status, junk.body.error.path], [400, "body"]);
  assert.match(junk.body.error.message, /not a delivery status notification/);
  assert.equal((await fates("eve"))[0]?.fate, "sent");

  const ok = await report(dsn);
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.deepEqual(
    ok.body.events.map((e: { kind: string; hard: boolean; recorded: boolean }) => [
      e.kind,
      e.hard,
      e.recorded,
    ]),
    [["bounced", true, true]],
  );
  assert.equal((await report(dsn)).body.events[0].recorded, false, "the same report twice is recorded once");
  const [bounced] = await fates("eve");
  assert.equal(bounced?.fate, "bounced");
  assert.match(bounced?.reason ?? "", /^5\.1\.1 550/);
  const [profile] = (await get(`${f.server.url}/api/v1/customers?userId=eve`, f.w.adminKey)).body.customers;
  assert.deepEqual(
    [profile.undeliverable.email?.address, profile.undeliverable.email?.reason],
    ["eve@example.com", "hard_bounced"],
  );
  const events = await get(`${f.server.url}/api/v1/customers/${profile.id}/events`, f.w.adminKey);
  assert.ok(events.body.events.some((e: { name: string }) => e.name === "message_bounced"));

  // the address is not offered to the server again
  const sent = smtp.received.length;
  clock.advance(2 * HOUR);
  await track([viewed]);
  await engine.runOnce();
  assert.equal(smtp.received.length, sent);
  assert.equal((await fates("eve"))[0]?.reason, "unreachable");
});

test("a delivery the mail system reports raises the message to delivered and records the touch", async () => {
  await track([
    { type: "identify", userId: "fay", traits: { email: "fay@example.com", consent: { email: "opted_in" } } },
    { type: "track", userId: "fay", event: "product_viewed", properties: { product: "lupins" } },
  ]);
  await engine.runOnce();
  const report = bounceOf(smtp.received.at(-1)?.raw as Buffer, "2.0.0", "250 2.0.0 Ok: queued", "delivered");
  const r = await post(`${f.server.url}/api/v1/channels/email/callbacks`, report, {
    authorization: basic(f.w.writeKey),
    "content-type": "message/rfc822",
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(
    r.body.events.map((e: { kind: string; recorded: boolean }) => [e.kind, e.recorded]),
    [["delivered", true]],
  );
  assert.equal((await fates("fay"))[0]?.fate, "delivered");
  const [profile] = (await get(`${f.server.url}/api/v1/customers?userId=fay`, f.w.adminKey)).body.customers;
  assert.deepEqual(profile.undeliverable, {});
  const events = await get(`${f.server.url}/api/v1/customers/${profile.id}/events`, f.w.adminKey);
  assert.ok(events.body.events.some((e: { name: string }) => e.name === "message_delivered"));
});
