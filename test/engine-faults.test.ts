// Faults around sending, end to end on a virtual clock with a real SMTP server on loopback: the server down for
// hours (nothing lost, nothing twice, sends resume; a message is given up only after days), a recipient refused
// for now (8 tries) or for good (at once), quiet hours in each customer's zone (an unknown one falling back to the
// workspace's), a retry that comes due in quiet hours (it waits for their end), a template that cannot be rendered
// for one customer (recorded, the others sent), and a customer erased in the middle of a journey (nothing more is
// sent to them, the rest go on; the scenario's statistics count what is left).
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, test } from "node:test";
import { VirtualClock } from "../src/core/clock.ts";
import { Engine } from "../src/engine/engine.ts";
import { basic, get, post, serverFixture } from "./helpers.ts";
import { TestSmtp } from "./smtp-server.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const clock = new VirtualClock("2026-03-02T09:00:00Z"); // 10:00 in Berlin
let engine: Engine;
const servers: TestSmtp[] = [];

const f = serverFixture({
  clock,
  onReady: (fx) => {
    engine = new Engine(fx.t.db, clock, { publicUrl: fx.server.url, env: {} });
  },
});

after(async () => {
  await engine?.stop();
  await Promise.all(servers.map((s) => s.close()));
});

/** A loopback port with nothing listening on it (yet). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function smtpOn(port: number): Promise<TestSmtp> {
  const s = new TestSmtp();
  await s.listen(port);
  servers.push(s);
  return s;
}

const strategy = (port: number) => `version: 1
name: Shop
timezone: Europe/Berlin
currency: EUR
goals:
  purchase: { event: order_completed, window: 14d, target: 5% }
channels:
  email: { provider: smtp, host: 127.0.0.1, port: ${port}, from: "Shop <shop@example.com>" }
rules:
  consent: opt_in
  quiet_hours: "21:00-09:00"
  control_group: 0%
scenarios:
  browse_reminder:
    goal: purchase
    trigger: { event: product_viewed }
    reentry: 1h
    steps:
      - send: reminder
        via: [email]
  onboarding:
    goal: purchase
    trigger: { event: signed_up }
    steps:
      - send: hello
        via: [email]
      - wait: 1d
      - send: tips
        via: [email]
templates:
  reminder:
    email:
      subject: "Still thinking about {{ event.properties.product }}?"
      html: "<p>It is waiting for you. <a href='{{ unsubscribe_url }}'>Unsubscribe</a></p>"
  hello:
    email: { subject: "Hello", html: "<p>Welcome. <a href='{{ unsubscribe_url }}'>Unsubscribe</a></p>" }
  tips:
    email: { subject: "Tips", html: "<p>Three tips. <a href='{{ unsubscribe_url }}'>Unsubscribe</a></p>" }
`;

/** Applies the strategy with its email channel on a port nothing listens on yet; returns the port. */
async function applyOnNewPort(): Promise<number> {
  const port = await freePort();
  const r = await post(
    `${f.server.url}/api/v1/strategy`,
    { source: strategy(port) },
    { authorization: `Bearer ${f.w.adminKey}` },
  );
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return port;
}

const track = async (items: unknown[]) => {
  const r = await post(`${f.server.url}/v1/batch`, { batch: items }, { authorization: basic(f.w.writeKey) });
  assert.equal(r.status, 200, JSON.stringify(r.body));
};

const person = (userId: string, extra: unknown[] = []) => [
  { type: "identify", userId, traits: { email: `${userId}@example.com`, consent: { email: "opted_in" } } },
  ...extra,
];

async function messagesOf(
  userId: string,
): Promise<{ template: string; fate: string; reason: string | null }[]> {
  const found = await get(`${f.server.url}/api/v1/customers?userId=${userId}`, f.w.adminKey);
  const [c] = found.body.customers;
  const r = await get(`${f.server.url}/api/v1/customers/${c.id}/messages`, f.w.adminKey);
  assert.equal(r.status, 200);
  return r.body.messages;
}

/** Moves the clock in steps, doing all due work at each. */
async function runFor(ms: number, step: number): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    await engine.runOnce();
  }
}

const recipientsOf = (s: TestSmtp) => s.received.flatMap((m) => m.recipients).sort();

test("the SMTP server down for hours: nothing is lost or sent twice, and sends resume soon after it is back", async () => {
  const port = await applyOnNewPort();
  const users = Array.from({ length: 12 }, (_, i) => `down${i}`);
  await track(
    users.flatMap((u) =>
      person(u, [{ type: "track", userId: u, event: "product_viewed", properties: { product: "tea" } }]),
    ),
  );
  await engine.runOnce();
  // three hours of refused connections: far more tries than a message refused by the server gets (8)
  await runFor(3 * HOUR, 15 * MINUTE);
  for (const u of users) {
    const [m] = await messagesOf(u);
    assert.equal(m?.fate, "queued", `${u} is kept while the server is down: ${JSON.stringify(m)}`);
  }
  const { rows } = await f.t.db.pool.query<{ attempts: number }>(
    "SELECT min(attempts)::int AS attempts FROM messages WHERE workspace_id = $1",
    [f.w.workspace.id],
  );
  assert.ok((rows[0]?.attempts ?? 0) > 8, `every message was tried more than 8 times: ${rows[0]?.attempts}`);
  const smtp = await smtpOn(port);
  // the longest wait between tries while unreachable is 10 minutes
  await runFor(10 * MINUTE, 5 * MINUTE);
  assert.deepEqual(recipientsOf(smtp), users.map((u) => `${u}@example.com`).sort(), "each exactly once");
  for (const u of users) assert.equal((await messagesOf(u))[0]?.fate, "sent");
  await runFor(HOUR, 30 * MINUTE);
  assert.equal(smtp.received.length, users.length, "nothing sent again");
});

test("a recipient the server refuses for now is retried 8 times, then failed; a refusal by policy fails at once", async () => {
  clock.set(new Date("2026-03-05T09:00:00Z"));
  const port = await applyOnNewPort();
  const smtp = await smtpOn(port);
  const viewed = (u: string) => ({
    type: "track",
    userId: u,
    event: "product_viewed",
    properties: { product: "tea" },
  });
  await track([...person("busy-1", [viewed("busy-1")]), ...person("policy-1", [viewed("policy-1")])]);
  await engine.runOnce();
  const [refused] = await messagesOf("policy-1");
  assert.equal(refused?.fate, "failed");
  assert.match(refused?.reason ?? "", /554 5\.7\.1 refused by policy/);
  assert.equal((await messagesOf("busy-1"))[0]?.fate, "queued");
  await runFor(8 * HOUR, 15 * MINUTE); // the backoff's ceilings add up to under 3 hours for 8 tries
  const [m] = await messagesOf("busy-1");
  assert.equal(m?.fate, "failed");
  assert.match(m?.reason ?? "", /^gave up after 8 tries: .*450 4\.2\.1 mailbox busy/);
  assert.equal(smtp.received.length, 0);
});

test("a message whose channel stays unreachable is given up after 5 days, with the reason", async () => {
  clock.set(new Date("2026-03-10T09:00:00Z"));
  await applyOnNewPort(); // nothing ever listens on it
  await track(
    person("never", [
      { type: "track", userId: "never", event: "product_viewed", properties: { product: "tea" } },
    ]),
  );
  await engine.runOnce();
  await runFor(4 * DAY, 6 * HOUR);
  assert.equal((await messagesOf("never"))[0]?.fate, "queued", "still kept after 4 days");
  await runFor(30 * HOUR, 6 * HOUR);
  const [m] = await messagesOf("never");
  assert.equal(m?.fate, "failed");
  assert.match(m?.reason ?? "", /^gave up after 5(\.\d)? days unreachable: .*ECONNREFUSED/);
});

test("a retry that comes due in quiet hours waits for their end", async () => {
  clock.set(new Date("2026-03-20T19:50:00Z")); // 20:50 in Berlin
  const port = await applyOnNewPort();
  await track(
    person("night", [
      { type: "track", userId: "night", event: "product_viewed", properties: { product: "tea" } },
    ]),
  );
  await engine.runOnce();
  assert.equal((await messagesOf("night"))[0]?.fate, "queued", "the server is down: kept for a retry");
  const smtp = await smtpOn(port);
  // the server is back at 21:00; every try from then on would fall in quiet hours (21:00–09:00 in Berlin)
  await runFor(11 * HOUR, 30 * MINUTE); // to 07:50 in Berlin
  assert.equal(smtp.received.length, 0, "nothing in quiet hours");
  const { rows } = await f.t.db.pool.query<{ due_at: Date; attempts: number }>(
    `SELECT m.due_at, m.attempts FROM messages m JOIN customers c USING (workspace_id, customer_id)
      WHERE m.workspace_id = $1 AND c.user_id = 'night'`,
    [f.w.workspace.id],
  );
  assert.equal(rows[0]?.due_at.toISOString(), "2026-03-21T08:00:00.000Z", "due when quiet hours end (09:00)");
  await runFor(20 * MINUTE, 10 * MINUTE); // to 08:10 in Berlin
  assert.equal(smtp.received.length, 0);
  await runFor(2 * HOUR, 30 * MINUTE);
  assert.deepEqual(recipientsOf(smtp), ["night@example.com"]);
});

test("quiet hours in each customer's own zone; a zone that does not exist falls back to the workspace's", async () => {
  clock.set(new Date("2026-03-25T21:30:00Z")); // 22:30 in Berlin, 17:30 in New York
  const port = await applyOnNewPort();
  const smtp = await smtpOn(port);
  const viewedIn = (u: string, timezone: string) => [
    {
      type: "identify",
      userId: u,
      traits: { email: `${u}@example.com`, consent: { email: "opted_in" } },
      context: { timezone },
    },
    {
      type: "track",
      userId: u,
      event: "product_viewed",
      properties: { product: "tea" },
      context: { timezone },
    },
  ];
  await track([...viewedIn("ny", "America/New_York"), ...viewedIn("mars", "Mars/Olympus_Mons")]);
  await engine.runOnce();
  assert.deepEqual(recipientsOf(smtp), ["ny@example.com"], "outside quiet hours in New York");
  const [held] = await messagesOf("mars");
  assert.deepEqual([held?.fate, held?.reason], ["deferred", "quiet_hours"]);
  const { rows } = await f.t.db.pool.query<{ due_at: Date; decision: unknown }>(
    `SELECT m.due_at, m.decision FROM messages m JOIN customers c USING (workspace_id, customer_id)
      WHERE m.workspace_id = $1 AND c.user_id = 'mars'`,
    [f.w.workspace.id],
  );
  assert.equal(rows[0]?.due_at.toISOString(), "2026-03-26T08:00:00.000Z", "09:00 in Berlin");
  // ingestion keeps no zone that does not exist, so the workspace's is used, and the trace says so
  assert.match(JSON.stringify(rows[0]?.decision), /local time 2026-03-25 22:30 Europe\/Berlin \(workspace\)/);
  clock.set(new Date("2026-03-26T08:00:00Z"));
  await engine.runOnce();
  assert.deepEqual(recipientsOf(smtp), ["mars@example.com", "ny@example.com"], "sent when quiet hours end");
});

test("a template that cannot be rendered for one customer is recorded as failed; the others are sent", async () => {
  clock.set(new Date("2026-04-01T10:00:00Z"));
  const port = await applyOnNewPort();
  const smtp = await smtpOn(port);
  await track([
    ...person("tpl1", [
      { type: "track", userId: "tpl1", event: "product_viewed", properties: { product: "tea" } },
    ]),
    // no product: the subject's variable is missing for this customer alone
    ...person("tpl2", [{ type: "track", userId: "tpl2", event: "product_viewed", properties: {} }]),
    ...person("tpl3", [
      { type: "track", userId: "tpl3", event: "product_viewed", properties: { product: "jam" } },
    ]),
  ]);
  await engine.runOnce();
  assert.deepEqual(recipientsOf(smtp), ["tpl1@example.com", "tpl3@example.com"]);
  const [failed] = await messagesOf("tpl2");
  assert.equal(failed?.fate, "failed");
  assert.match(failed?.reason ?? "", /^template: .*product/);
  assert.equal((await messagesOf("tpl1"))[0]?.fate, "sent");
  assert.equal((await messagesOf("tpl3"))[0]?.fate, "sent");
});

test("a customer erased in the middle of a journey gets nothing more; the others go on", async () => {
  clock.set(new Date("2026-04-10T10:00:00Z"));
  const port = await applyOnNewPort();
  const smtp = await smtpOn(port);
  await track([
    ...person("gone", [{ type: "track", userId: "gone", event: "signed_up" }]),
    ...person("stays", [{ type: "track", userId: "stays", event: "signed_up" }]),
  ]);
  await engine.runOnce();
  assert.deepEqual(recipientsOf(smtp), ["gone@example.com", "stays@example.com"], "the first email of each");
  const [c] = (await get(`${f.server.url}/api/v1/customers?userId=gone`, f.w.adminKey)).body.customers;
  const res = await fetch(`${f.server.url}/api/v1/customers/${c.id}`, {
    method: "DELETE",
    headers: { authorization: `Bearer ${f.w.adminKey}` },
  });
  assert.equal(res.status, 200);
  await runFor(DAY + HOUR, HOUR);
  assert.deepEqual(
    recipientsOf(smtp),
    ["gone@example.com", "stays@example.com", "stays@example.com"],
    "the second email to the one still here only",
  );
  const { rows } = await f.t.db.pool.query(
    "SELECT 1 FROM scenario_entries WHERE workspace_id = $1 AND customer_id = $2 UNION ALL SELECT 1 FROM messages WHERE workspace_id = $1 AND customer_id = $2",
    [f.w.workspace.id, c.id],
  );
  assert.equal(rows.length, 0, "the erased customer's journey and messages are gone");
  const stats = await get(`${f.server.url}/api/v1/scenarios/onboarding/stats`, f.w.adminKey);
  assert.equal(stats.status, 200);
  const counts = { entered: 1, active: 0, completed: 1, exited: 0, goalReached: 0, failed: 0 };
  assert.deepEqual(
    { ...stats.body, webhooks: undefined },
    { scenario: "onboarding", ...counts, messages: { sent: 2 }, webhooks: undefined },
  );
  const list = await get(`${f.server.url}/api/v1/scenarios`, f.w.adminKey);
  const listed = list.body.scenarios.find((x: { scenario: string }) => x.scenario === "onboarding");
  assert.deepEqual([listed?.entered, listed?.completed, listed?.messages], [1, 1, { sent: 2 }]);
});
