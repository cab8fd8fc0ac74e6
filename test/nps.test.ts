// NPS end to end: an order starts a scenario whose survey step sends an email with eleven signed answer links; a
// click records an `nps_response` event (one per message: a second click updates it), the thank-you page takes a
// comment, a tampered link is a 400 that records nothing, the last score is the `nps` condition attribute, a
// detractor's answer starts a scenario, and a text reply answers the latest survey.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { simpleParser } from "mailparser";
import { VirtualClock } from "../src/core/clock.ts";
import { Engine } from "../src/engine/engine.ts";
import { answerFromReply } from "../src/store/nps-answers.ts";
import { basic, post, serverFixture } from "./helpers.ts";
import { TestSmtp } from "./smtp-server.ts";

const clock = new VirtualClock("2026-03-02T10:00:00Z");
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
name: Flower Shop
timezone: UTC
currency: EUR
goals:
  feedback: { event: nps_response, window: 14d, target: 20% }
  saved: { event: order_completed, window: 30d, target: 5% }
channels:
  email: { provider: smtp, host: 127.0.0.1, port: ${port}, from: "Shop <shop@example.com>" }
  sms: { provider: sink, contact: phone }
rules:
  consent: opt_in
  control_group: 0%
segments:
  detractors: "nps <= 6"
  promoters: "nps >= 9"
scenarios:
  ask:
    goal: feedback
    trigger: { event: order_completed }
    steps:
      - survey: nps
        via: [email]
  ask_by_sms:
    goal: feedback
    trigger: { event: store_visited }
    steps:
      - survey: nps
        via: [sms]
  win_back_detractor:
    goal: saved
    trigger: { event: nps_response, where: "properties.score <= 6" }
    steps:
      - send: sorry
        via: [email]
templates:
  sorry:
    email: { subject: "We are sorry, {{ customer.first_name }}", html: "<p>Let us make it right. <a href='{{ unsubscribe_url }}'>Unsubscribe</a></p>" }
`;

const track = (items: unknown[]) =>
  post(`${f.server.url}/v1/batch`, { batch: items }, { authorization: basic(f.w.writeKey) });

async function answers(): Promise<{ customer_id: string; properties: Record<string, unknown> }[]> {
  const { rows } = await f.t.db.pool.query(
    "SELECT customer_id, properties FROM events WHERE workspace_id = $1 AND name = 'nps_response'",
    [f.w.workspace.id],
  );
  return rows;
}

async function inSegment(segment: string): Promise<boolean> {
  const { rows } = await f.t.db.pool.query(
    `SELECT 1 FROM memberships WHERE workspace_id = $1 AND kind = 'segment' AND name = $2 AND left_at IS NULL`,
    [f.w.workspace.id, segment],
  );
  return rows.length > 0;
}

let links: string[] = [];

test("a survey step emails eleven signed answer links", async () => {
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
    { type: "track", userId: "ann", event: "order_completed", properties: { revenue: 40 } },
  ]);
  await engine.runOnce();
  assert.equal(smtp.received.length, 1);
  const mail = await simpleParser(smtp.received[0]?.raw as Buffer);
  assert.equal(mail.subject, "How likely are you to recommend Flower Shop to a friend or colleague?");
  const html = String(mail.html);
  links = [...html.matchAll(/href="([^"]+\/n\/[^"]+)"/g)].map((m) => m[1] ?? "");
  assert.equal(links.length, 11, "one link per score 0–10");
  assert.equal(new Set(links).size, 11);
  assert.ok(
    links.every((l) => l.startsWith(`${f.server.url}/n/`)),
    "answer links are not click-tracked",
  );
  assert.match(String(mail.text), /10: http/);
});

test("a tampered answer link is a 400 and records nothing", async () => {
  const nine = links[9] ?? "";
  const token = nine.slice(nine.lastIndexOf("/n/") + 3);
  const [payload = "", signature = ""] = token.split(".");
  // the payload says score 9; rewrite it to 10 and keep the signature
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  assert.equal(claims.s, 9);
  const forged = Buffer.from(JSON.stringify({ ...claims, s: 10 })).toString("base64url");
  const flipped = `${signature.slice(0, -2)}${signature.endsWith("AA") ? "BB" : "AA"}`;
  for (const bad of [`${forged}.${signature}`, `${payload}.${flipped}`, payload, "x.y"]) {
    const res = await fetch(`${f.server.url}/n/${bad}`);
    assert.equal(res.status, 400, bad);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, "invalid_link");
    const posted = await fetch(`${f.server.url}/n/${bad}`, { method: "POST", body: "comment=hi" });
    assert.equal(posted.status, 400);
  }
  // another kind of link of the same message is no answer either
  const open = await fetch(links[9]?.replace("/n/", "/o/") ?? "");
  assert.equal(open.status, 400);
  assert.deepEqual(await answers(), []);
});

test("a click records the answer once; another click updates it; the form adds a comment", async () => {
  const res = await fetch(links[9] ?? "");
  assert.equal(res.status, 200);
  const page = await res.text();
  assert.match(page, /You answered <b>9<\/b>/);
  assert.match(page, /<textarea[^>]+name="comment"/);
  assert.equal(res.headers.get("cache-control"), "no-store");
  await fetch(links[9] ?? ""); // a double click
  let a = await answers();
  assert.equal(a.length, 1);
  assert.equal(a[0]?.properties.score, 9);
  assert.equal(a[0]?.properties.scenario, "ask");
  assert.equal(a[0]?.properties.channel, "email");
  await engine.runOnce();
  assert.equal(await inSegment("promoters"), true, "nps >= 9 holds");
  assert.equal(smtp.received.length, 1, "a promoter sets off no detractor scenario");

  clock.advance(60_000);
  const posted = await fetch(links[3] ?? "", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ comment: "The roses wilted in a day" }).toString(),
  });
  assert.equal(posted.status, 200);
  a = await answers();
  assert.equal(a.length, 1, "a changed answer is still one response");
  assert.equal(a[0]?.properties.score, 3);
  assert.equal(a[0]?.properties.comment, "The roses wilted in a day");
  // a later click without a comment keeps the comment
  await fetch(links[3] ?? "");
  assert.equal((await answers())[0]?.properties.comment, "The roses wilted in a day");
});

test("the detractor's answer starts the win-back scenario and moves the nps segments", async () => {
  await engine.runOnce();
  assert.equal(await inSegment("detractors"), true);
  assert.equal(await inSegment("promoters"), false);
  assert.equal(smtp.received.length, 2, "the detractor scenario sent its email");
  const mail = await simpleParser(smtp.received[1]?.raw as Buffer);
  assert.equal(mail.subject, "We are sorry, Ann");
  const { rows } = await f.t.db.pool.query(
    "SELECT scenario, state FROM scenario_entries WHERE workspace_id = $1 AND scenario = 'win_back_detractor'",
    [f.w.workspace.id],
  );
  assert.equal(rows.length, 1);
});

test("a text reply answers the latest survey on its channel; other text is refused with the reason", async () => {
  const [first] = await answers();
  const customerId = first?.customer_id ?? "";
  const at = clock.now();
  const bad = await answerFromReply(f.t.db, {
    workspaceId: f.w.workspace.id,
    customerId,
    channel: "email",
    text: "call me at 5",
    at,
  });
  assert.deepEqual(bad, { ok: false, reason: "the reply does not start with a score from 0 to 10" });
  const none = await answerFromReply(f.t.db, {
    workspaceId: f.w.workspace.id,
    customerId,
    channel: "sms",
    text: "10",
    at,
  });
  assert.equal(none.ok, false);
  const r = await answerFromReply(f.t.db, {
    workspaceId: f.w.workspace.id,
    customerId,
    channel: "email",
    text: "10/10 — the replacement bouquet was lovely",
    at,
  });
  assert.equal(r.ok && r.outcome, "updated");
  const a = await answers();
  assert.equal(a.length, 1);
  assert.equal(a[0]?.properties.score, 10);
  assert.equal(a[0]?.properties.comment, "the replacement bouquet was lovely");
  const late = await answerFromReply(f.t.db, {
    workspaceId: f.w.workspace.id,
    customerId,
    channel: "email",
    text: "8",
    at: new Date(at.getTime() + 8 * 86_400_000),
  });
  assert.equal(late.ok, false, "a survey older than 7 days takes no reply");
});

test("by SMS: the built-in survey asks for a reply, and the reply is the answer", async () => {
  await track([
    { type: "identify", userId: "bo", traits: { phone: "+79161234567", consent: { sms: "opted_in" } } },
    { type: "track", userId: "bo", event: "store_visited" },
  ]);
  await engine.runOnce();
  const { rows } = await f.t.db.pool.query<{ customer_id: string; fate: string; summary: { text: string } }>(
    "SELECT customer_id, fate, reason, summary FROM messages WHERE workspace_id = $1 AND scenario = 'ask_by_sms'",
    [f.w.workspace.id],
  );
  assert.equal(rows[0]?.fate, "sent", JSON.stringify(rows[0]));
  assert.match(
    rows[0]?.summary.text ?? "",
    /^How likely are you to recommend Flower Shop to a friend or colleague\? Reply/,
  );
  const r = await answerFromReply(f.t.db, {
    workspaceId: f.w.workspace.id,
    customerId: rows[0]?.customer_id ?? "",
    channel: "sms",
    text: "4 - the queue was too long",
    at: clock.now(),
  });
  assert.equal(r.ok && r.outcome, "recorded");
  const answer = (await answers()).find((a) => a.customer_id === rows[0]?.customer_id);
  assert.deepEqual(
    [
      answer?.properties.score,
      answer?.properties.comment,
      answer?.properties.channel,
      answer?.properties.source,
    ],
    [4, "the queue was too long", "sms", "reply"],
  );
  assert.equal(answer?.properties.scenario, "ask_by_sms");
});
