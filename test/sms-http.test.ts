// SMS over an HTTP gateway, against a gateway on loopback that speaks the documented contract: a survey goes out as
// one JSON POST; the gateway's delivery receipt moves the message to delivered; the customer's replies come back
// through the channel callbacks — a score answers the survey, STOP withdraws the consent (and the next message is
// not sent), other text is a `replied` event; and each of the gateway's refusals becomes the result the engine
// expects.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { OutboundMessage } from "../src/channels/channel.ts";
import { SmsHttpAdapter } from "../src/channels/sms/sms-http-adapter.ts";
import { VirtualClock } from "../src/core/clock.ts";
import { basic, engineFixture, post } from "./helpers.ts";
import { httpStub, type Stub, type StubAnswer } from "./http-stub.ts";

const TOKEN = "gateway-token-1";
const env = { TACT_TEST_SMS_TOKEN: TOKEN };

interface Posted {
  authorization: string | undefined;
  body: { message_id: string; to: string; from: string | null; text: string; reference: string | null };
}

/** An SMS gateway: takes messages, answers with its id; `refuse` scripts an answer per number. */
class Gateway {
  readonly posted: Posted[] = [];
  readonly refuse = new Map<string, StubAnswer>();
  #stub: Stub | undefined;
  #next = 1;
  url = "";

  async listen(): Promise<void> {
    this.#stub = await httpStub((req, text) => {
      const body = JSON.parse(text) as Posted["body"];
      const refusal = this.refuse.get(body.to);
      if (refusal) return refusal;
      this.posted.push({ authorization: req.headers.authorization, body });
      return { status: 202, body: JSON.stringify({ id: `gw-${this.#next++}` }) };
    });
    this.url = `${this.#stub.url}/messages`;
  }

  close(): Promise<void> {
    return this.#stub?.close() ?? Promise.resolve();
  }
}

const gateway = new Gateway();
const clock = new VirtualClock("2026-03-02T10:00:00Z");
const { f, engine } = engineFixture(clock, env, gateway);

const strategy = () => `version: 1
name: Corner Bakery
timezone: Europe/Berlin
currency: EUR
goals:
  rated: { event: nps_response, window: 10d, target: 25% }
channels:
  sms: { provider: sms_http, url: "${gateway.url}", sender: BAKERY, token_env: TACT_TEST_SMS_TOKEN, cost: 0.07 }
rules:
  consent: opt_in
  control_group: 0%
scenarios:
  ask:
    goal: rated
    trigger: { event: order_completed }
    reentry: 1d
    steps:
      - survey: nps
        via: [sms]
`;

const PHONE = "+4915112345678";
const callbacks = (body: unknown, key = f.w.writeKey) =>
  post(`${f.server.url}/api/v1/channels/sms/callbacks`, body, key ? { authorization: basic(key) } : {});
const track = (items: unknown[]) =>
  post(`${f.server.url}/v1/batch`, { batch: items }, { authorization: basic(f.w.writeKey) });

async function rows(sql: string): Promise<Record<string, unknown>[]> {
  return (await f.t.db.pool.query(sql, [f.w.workspace.id])).rows;
}

test("a survey goes out as one JSON POST to the gateway; its receipt marks the message delivered", async () => {
  const applied = await post(
    `${f.server.url}/api/v1/strategy`,
    { source: strategy() },
    { authorization: `Bearer ${f.w.adminKey}` },
  );
  assert.equal(applied.status, 201, JSON.stringify(applied.body));
  const tracked = await track([
    { type: "identify", userId: "ben", traits: { phone: "+49 151 12345678", consent: { sms: "opted_in" } } },
    { type: "track", userId: "ben", event: "order_completed", properties: { revenue: 12 } },
  ]);
  assert.equal(tracked.status, 200, JSON.stringify(tracked.body));
  await engine().runOnce();
  assert.equal(gateway.posted.length, 1);
  const sent = gateway.posted[0];
  assert.equal(sent?.authorization, `Bearer ${TOKEN}`);
  assert.deepEqual([sent?.body.to, sent?.body.from], [PHONE, "BAKERY"]);
  assert.match(sent?.body.text ?? "", /How likely are you to recommend Corner Bakery.*reply with a number/is);
  assert.deepEqual(await rows("SELECT fate, provider_id FROM messages WHERE workspace_id = $1"), [
    { fate: "sent", provider_id: "gw-1" },
  ]);

  const receipt = await callbacks({ type: "delivery", reference: sent?.body.reference, status: "delivered" });
  assert.equal(receipt.status, 200, JSON.stringify(receipt.body));
  assert.deepEqual(
    receipt.body.events.map((e: { kind: string; recorded: boolean }) => [e.kind, e.recorded]),
    [["delivered", true]],
  );
  assert.deepEqual(await rows("SELECT fate FROM messages WHERE workspace_id = $1"), [{ fate: "delivered" }]);
});

test("replies: a score answers the survey, other text is a replied event, once; STOP unsubscribes", async () => {
  const answered = await callbacks({
    events: [
      { type: "inbound", id: "in-1", from: "+49 151 1234 5678", text: "8, fresh bread" },
      { type: "inbound", id: "in-2", from: PHONE, text: "stop sending at night" },
      { type: "inbound", id: "in-2", from: PHONE, text: "stop sending at night" },
      { type: "inbound", id: "in-3", from: "+4915199999999", text: "9" },
    ],
  });
  assert.equal(answered.status, 200, JSON.stringify(answered.body));
  assert.deepEqual(answered.body.replies, [
    { from: PHONE, outcome: "answered", score: 8 },
    { from: PHONE, outcome: "replied" },
    { from: PHONE, outcome: "repeated" },
    { from: "+4915199999999", outcome: "unknown_sender" },
  ]);
  assert.deepEqual(
    await rows(
      `SELECT name, properties ->> 'score' AS score, properties ->> 'text' AS text FROM events
        WHERE workspace_id = $1 AND name IN ('nps_response', 'replied') ORDER BY name`,
    ),
    [
      { name: "nps_response", score: "8", text: null },
      { name: "replied", score: null, text: "stop sending at night" },
    ],
  );

  const stop = await callbacks({ type: "inbound", id: "in-4", from: PHONE, text: " Stop " });
  assert.deepEqual(stop.body.replies, [{ from: PHONE, outcome: "unsubscribed" }]);
  assert.deepEqual(
    await rows("SELECT consents -> 'sms' ->> 'state' AS state FROM customers WHERE workspace_id = $1"),
    [{ state: "unsubscribed" }],
  );
  // the next survey, a day later, is not sent
  clock.advance(2 * 86_400_000);
  await track([{ type: "track", userId: "ben", event: "order_completed", properties: { revenue: 9 } }]);
  await engine().runOnce();
  assert.equal(gateway.posted.length, 1);
  assert.deepEqual(
    await rows("SELECT fate, reason FROM messages WHERE workspace_id = $1 ORDER BY message_id DESC LIMIT 1"),
    [{ fate: "suppressed", reason: "no_consent" }],
  );
});

test("a report that is not the contract is refused with the field named, and records nothing", async () => {
  const before = await rows("SELECT count(*)::int AS n FROM events WHERE workspace_id = $1");
  const cases: [unknown, RegExp][] = [
    [{ type: "sms" }, /events\[0\]: type/],
    [{ events: [{ type: "inbound", id: "x", from: PHONE }] }, /events\[0\]: text/],
    [{ events: [] }, /events: a list/],
    [{ type: "inbound", id: "x", from: "not a number", text: "9" }, /'not a number' is no phone number/],
    [{ type: "delivery", reference: "forged", status: "delivered" }, /reference/],
  ];
  for (const [body, reason] of cases) {
    const r = await callbacks(body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(r.body.error.message, reason);
  }
  assert.equal((await callbacks({ type: "inbound", id: "y", from: PHONE, text: "9" }, "")).status, 401);
  assert.deepEqual(await rows("SELECT count(*)::int AS n FROM events WHERE workspace_id = $1"), before);
});

test("the gateway's refusals become results: wait and retry, the number bad, the login refused", async () => {
  const adapter = (url = gateway.url, tokenEnv = "TACT_TEST_SMS_TOKEN") =>
    new SmsHttpAdapter(
      { name: "sms", settings: { url, sender: "BAKERY", token_env: tokenEnv } },
      { env, random: () => 0.5 },
    );
  const message = (to: string, text = "Hello"): OutboundMessage => ({
    workspaceId: 1,
    messageId: "1",
    customerId: "1",
    channel: "sms",
    kind: "marketing",
    to,
    body: { kind: "text", text },
    attempt: 1,
  });
  gateway.refuse.set("+1", { status: 429, body: '{"error":"slow down"}', headers: { "retry-after": "30" } });
  gateway.refuse.set("+2", { status: 503, body: "maintenance" });
  gateway.refuse.set("+3", { status: 401, body: '{"error":"bad token"}' });
  gateway.refuse.set("+4", { status: 422, body: '{"error":"invalid_number"}' });
  gateway.refuse.set("+5", { status: 400, body: '{"error":"sender not allowed"}' });
  const a = adapter();
  assert.deepEqual(await a.send(message("+1")), {
    status: "retry",
    afterMs: 30_000,
    reason: "gateway 429: slow down",
  });
  const busy = await a.send(message("+2"));
  assert.deepEqual([busy.status, (busy as { reason: string }).reason], ["retry", "gateway 503: maintenance"]);
  const login = await a.send(message("+3"));
  assert.deepEqual([login.status, (login as { unreachable?: boolean }).unreachable], ["retry", true]);
  assert.deepEqual(await a.send(message("+4")), {
    status: "failed",
    reason: "gateway 422: invalid_number",
    invalidAddress: true,
  });
  assert.deepEqual(await a.send(message("+5")), {
    status: "failed",
    reason: "gateway 400: sender not allowed",
  });
  assert.deepEqual(await a.send(message("+6", "x".repeat(1531))), {
    status: "failed",
    reason: "the text is 1531 characters; at most 1530 are sent",
  });
  const down = await adapter("http://127.0.0.1:9/messages").send(message("+6"));
  assert.deepEqual([down.status, (down as { unreachable?: boolean }).unreachable], ["retry", true]);
  assert.deepEqual(adapter(gateway.url, "MISSING").checkConfig({}), [
    { setting: "token_env", message: "MISSING is not set" },
  ]);
  assert.deepEqual(adapter("ftp://gateway").checkConfig(env), [
    { setting: "url", message: "an http(s) URL is required" },
  ]);
});
