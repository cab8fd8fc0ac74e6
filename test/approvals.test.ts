// Pilot scenarios and the API trigger end to end, on a virtual clock with a real SMTP server: a pilot enters only
// its sample and holds every message for a person; approved messages are sent (still under the rules), rejected
// ones never are; a receipt started through the API reaches a customer who unsubscribed from marketing, inside
// quiet hours and past the caps.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, test } from "node:test";
import { simpleParser } from "mailparser";
import { VirtualClock } from "../src/core/clock.ts";
import { bucketOf } from "../src/core/experiment/index.ts";
import { Engine } from "../src/engine/engine.ts";
import { ApiRegistry } from "../src/server/api.ts";
import { buildApp } from "../src/server/app.ts";
import { registerApprovals, registerScenarioTrigger } from "../src/server/routes/approvals.ts";
import { KeyResolver } from "../src/store/workspaces.ts";
import {
  basic,
  get,
  pgUrl,
  post,
  type TestDb,
  type TestWorkspace,
  testDb,
  testWorkspace,
} from "./helpers.ts";
import { TestSmtp } from "./smtp-server.ts";

const MINUTE = 60_000;
const clock = new VirtualClock("2026-03-02T10:00:00Z"); // 11:00 in Berlin
const smtp = new TestSmtp();
let t: TestDb;
let w: TestWorkspace;
let url: string;
let close: () => Promise<void>;
let engine: Engine;
let app: Awaited<ReturnType<typeof buildApp>>;

before(async () => {
  await smtp.listen();
  t = await testDb();
  app = await buildApp({ db: t.db, clock, logger: false });
  // until the app registers these routes itself
  const api = new ApiRegistry(app, new KeyResolver(t.db));
  if (!app.hasRoute({ method: "GET", url: "/api/v1/approvals" })) registerApprovals(api, t.db, clock);
  if (!app.hasRoute({ method: "POST", url: "/api/v1/scenarios/:name/trigger" }))
    registerScenarioTrigger(api, t.db, clock);
  await app.listen({ port: 0, host: "127.0.0.1" });
  const addr = app.server.address();
  url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  close = () => app.close();
  w = await testWorkspace(t.db);
  engine = new Engine(t.db, clock, { publicUrl: url, env: {} });
});
after(async () => {
  await engine?.stop();
  await close?.();
  await t?.close();
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
    - { max: 1, per: 7d }
  control_group: 0%
scenarios:
  spring_pilot:
    goal: purchase
    mode: pilot
    sample: 50%
    trigger: { event: signed_up }
    steps:
      - send: spring
        via: [email]
  browse:
    goal: purchase
    trigger: { event: product_viewed }
    steps:
      - send: browse
        via: [email]
  receipt:
    goal: purchase
    kind: transactional
    trigger: { api: true }
    reentry: 1m
    steps:
      - send: receipt
        via: [email]
templates:
  spring:
    email: { subject: "Spring is here", html: "<p>Tulips</p>" }
  browse:
    email: { subject: "Still looking?", html: "<p>It waits for you</p>" }
  receipt:
    email: { subject: "Receipt for order {{ event.properties.order_id }}", html: "<p>Thank you</p>" }
`;

const admin = () => ({ authorization: `Bearer ${w.adminKey}` });
/** Posts a batch and waits until it is applied (a batch of more than 100 is answered once logged). */
async function track(items: unknown[]) {
  const r = await post(`${url}/v1/batch`, { batch: items }, { authorization: basic(w.writeKey) });
  await app.ingest.drain();
  return r;
}
const email = (i: number) => `p${String(i).padStart(3, "0")}@example.com`;

async function customerIdOf(userId: string): Promise<string> {
  const r = await get(`${url}/api/v1/customers?userId=${userId}`, w.adminKey);
  const id = r.body.customers[0]?.id;
  assert.ok(id, `customer ${userId} exists`);
  return id;
}

async function fateOf(messageId: string): Promise<{ fate: string; reason: string | null }> {
  const { rows } = await t.db.pool.query<{ fate: string; reason: string | null }>(
    "SELECT fate, reason FROM messages WHERE workspace_id = $1 AND message_id = $2",
    [w.workspace.id, messageId],
  );
  const row = rows[0];
  assert.ok(row, `message ${messageId} exists`);
  return row;
}

interface Pending {
  messageId: string;
  customerId: string;
  email: string | null;
}

async function allPending(): Promise<Pending[]> {
  const out: Pending[] = [];
  let after: string | null = "0";
  while (after !== null) {
    const r = await get(`${url}/api/v1/approvals?scenario=spring_pilot&limit=40&after=${after}`, w.adminKey);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    out.push(...r.body.approvals);
    after = r.body.next;
  }
  return out;
}

test("a pilot enters only its sample, and every message waits for a person", async () => {
  const applied = await post(`${url}/api/v1/strategy`, { source: strategy(smtp.port) }, admin());
  assert.equal(applied.status, 201, JSON.stringify(applied.body));
  const items = [];
  for (let i = 0; i < 200; i++) {
    const userId = `p${i}`;
    items.push(
      { type: "identify", userId, traits: { email: email(i), consent: { email: "opted_in" } } },
      { type: "track", userId, event: "signed_up" },
    );
  }
  const r = await track(items);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await engine.runOnce();
  assert.equal(smtp.received.length, 0, "nothing is sent before a person approves it");

  const { rows } = await t.db.pool.query<{ customer_id: string }>(
    "SELECT customer_id FROM scenario_entries WHERE workspace_id = $1 AND scenario = 'spring_pilot'",
    [w.workspace.id],
  );
  const entered = new Set(rows.map((x) => x.customer_id));
  const { rows: all } = await t.db.pool.query<{ customer_id: string }>(
    "SELECT customer_id FROM customers WHERE workspace_id = $1",
    [w.workspace.id],
  );
  assert.equal(all.length, 200);
  const sampled = all
    .map((c) => c.customer_id)
    .filter((id) => bucketOf(w.workspace.salt, id, "pilot:spring_pilot") < 5000);
  assert.deepEqual([...entered].sort(), sampled.sort(), "the sample is the customers hashed below 50%");
  assert.ok(entered.size >= 70 && entered.size <= 130, `about half entered: ${entered.size}`);

  const pending = await allPending();
  assert.equal(pending.length, entered.size, "one message per entered customer waits");
  assert.deepEqual(new Set(pending.map((p) => p.customerId)), entered);
  assert.ok(pending.every((p) => p.email?.endsWith("@example.com")));
});

test("approved messages are sent on the next round, rejected ones never; each verdict is audited", async () => {
  const pending = await allPending();
  const approve = pending.slice(0, 10);
  const reject = pending.slice(10, 15);
  for (const p of approve) {
    const r = await post(`${url}/api/v1/approvals/${p.messageId}/approve`, {}, admin());
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.fate, "planned");
  }
  for (const p of reject) {
    const r = await post(`${url}/api/v1/approvals/${p.messageId}/reject`, { reason: "wrong tone" }, admin());
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  const first = approve[0];
  const rejected = reject[0];
  assert.ok(first && rejected);
  const again = await post(`${url}/api/v1/approvals/${first.messageId}/approve`, {}, admin());
  assert.equal(again.status, 409, "a message approved already is not waiting any more");
  assert.equal(again.body.error.code, "not_awaiting_approval");
  const late = await post(`${url}/api/v1/approvals/${rejected.messageId}/approve`, {}, admin());
  assert.equal(late.status, 409, "a rejected message cannot be approved afterwards");
  const unknown = await post(`${url}/api/v1/approvals/999999999/reject`, {}, admin());
  assert.equal(unknown.status, 404);
  const noKey = await post(`${url}/api/v1/approvals/${first.messageId}/approve`, {});
  assert.equal(noKey.status, 401);

  await engine.runOnce();
  assert.equal(smtp.received.length, 10);
  const recipients = smtp.received.flatMap((m) => m.recipients).sort();
  assert.deepEqual(recipients, approve.map((p) => p.email).sort());
  const mail = await simpleParser(smtp.received[0]?.raw as Buffer);
  assert.equal(mail.subject, "Spring is here");
  for (const p of reject)
    assert.deepEqual(await fateOf(p.messageId), { fate: "rejected", reason: "wrong tone" });
  for (const p of approve) assert.equal((await fateOf(p.messageId)).fate, "sent");
  assert.equal((await allPending()).length, pending.length - 15);

  clock.advance(10 * MINUTE);
  await engine.runOnce();
  assert.equal(smtp.received.length, 10, "rejected and waiting messages stay unsent");
  const { rows } = await t.db.pool.query<{ action: string; actor: string; n: string }>(
    `SELECT action, actor, count(*) AS n FROM audit_log WHERE workspace_id = $1 AND action LIKE 'message.%'
      GROUP BY 1, 2 ORDER BY 1`,
    [w.workspace.id],
  );
  assert.deepEqual(
    rows.map((r) => [r.action, Number(r.n)]),
    [
      ["message.approve", 10],
      ["message.reject", 5],
    ],
  );
  assert.ok(rows.every((r) => r.actor.startsWith("admin key ")));
});

test("an approved message still passes the rules: a customer at the frequency cap is not sent it", async () => {
  const [p] = await allPending();
  assert.ok(p?.email);
  const userId = p.email.replace(/@.*/, "").replace(/^p0*(?=\d)/, "p");
  assert.equal(await customerIdOf(userId), p.customerId);
  await track([{ type: "track", userId, event: "product_viewed" }]);
  await engine.runOnce();
  const before = smtp.received.length;
  assert.deepEqual(
    smtp.received.at(-1)?.recipients,
    [p.email],
    "the browse email used the week's one message",
  );
  const r = await post(`${url}/api/v1/approvals/${p.messageId}/approve`, {}, admin());
  assert.equal(r.status, 200);
  await engine.runOnce();
  assert.equal(smtp.received.length, before);
  assert.deepEqual(await fateOf(p.messageId), { fate: "suppressed", reason: "frequency_capped" });
});

test("a receipt through the API reaches an unsubscribed customer, in quiet hours and past the cap", async () => {
  await track([
    {
      type: "identify",
      userId: "rita",
      traits: { email: "rita@example.com", consent: { email: "unsubscribed" } },
    },
    { type: "track", userId: "rita", event: "product_viewed" },
  ]);
  await engine.runOnce();
  const rita = await customerIdOf("rita");
  const { rows } = await t.db.pool.query<{ fate: string; reason: string }>(
    "SELECT fate, reason FROM messages WHERE workspace_id = $1 AND customer_id = $2 AND scenario = 'browse'",
    [w.workspace.id, rita],
  );
  assert.deepEqual(
    rows,
    [{ fate: "suppressed", reason: "no_consent" }],
    "marketing stops at the unsubscribe",
  );

  clock.set(new Date("2026-03-02T22:30:00Z")); // 23:30 in Berlin: quiet hours
  const before = smtp.received.length;
  for (const [i, target] of [
    { userId: "rita" },
    { email: "RITA@example.com" },
    { customerId: rita },
  ].entries()) {
    const r = await post(
      `${url}/api/v1/scenarios/receipt/trigger`,
      { ...target, properties: { order_id: `A-${i}` } },
      admin(),
    );
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.customerId, rita);
    assert.match(r.body.entryId, /^\d+$/);
    await engine.runOnce();
    clock.advance(2 * MINUTE);
  }
  const mails = smtp.received.slice(before);
  assert.equal(mails.length, 3, "three receipts, past the cap of one a week");
  assert.ok(mails.every((m) => m.recipients[0] === "rita@example.com"));
  const subjects = await Promise.all(mails.map(async (m) => (await simpleParser(m.raw)).subject));
  assert.deepEqual(subjects, ["Receipt for order A-0", "Receipt for order A-1", "Receipt for order A-2"]);
});

test("the API trigger refuses what it cannot start, with the reason", async () => {
  const trigger = (name: string, body: unknown) =>
    post(`${url}/api/v1/scenarios/${name}/trigger`, body, admin());
  const first = await trigger("receipt", { userId: "rita", properties: { order_id: "B-1" } });
  assert.equal(first.status, 202);
  const twice = await trigger("receipt", { userId: "rita" });
  assert.equal(twice.status, 409, "inside the scenario until the engine has run it");
  assert.equal(twice.body.error.code, "already_in");
  await engine.runOnce();
  const soon = await trigger("receipt", { userId: "rita" });
  assert.equal(soon.status, 409);
  assert.equal(soon.body.error.code, "reentry_interval");
  const marketing = await trigger("browse", { userId: "rita" });
  assert.equal(marketing.status, 400);
  assert.equal(marketing.body.error.code, "not_api_trigger");
  assert.equal((await trigger("nope", { userId: "rita" })).status, 404);
  assert.equal((await trigger("receipt", { userId: "nobody" })).status, 404);
  assert.equal((await trigger("receipt", { userId: "rita", email: "rita@example.com" })).status, 400);
  assert.equal((await trigger("receipt", {})).status, 400);
});

/** Runs `tact approvals …` on this test's database (a PostgreSQL one: the CLI opens it in another process). */
function cli(args: string[]): { status: number | null; out: unknown; err: string } {
  const script = [
    'import { Command } from "commander";',
    'import { registerApprovals } from "./src/cli/approvals.ts";',
    'import { UsageError } from "./src/cli/context.ts";',
    'const program = new Command("tact").exitOverride();',
    "registerApprovals(program);",
    "// as the tact command does: a usage error exits with 2",
    'try { await program.parseAsync(process.argv.slice(1), { from: "user" }); }',
    "catch (err) { if (!(err instanceof UsageError)) throw err; process.exitCode = 2; }",
  ].join("\n");
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script, ...args], {
    env: { ...process.env, DATABASE_URL: t.url, LOG_LEVEL: "silent" },
    encoding: "utf8",
  });
  return { status: r.status, out: r.stdout ? JSON.parse(r.stdout) : undefined, err: r.stderr };
}

test("the CLI lists, rejects with a reason, and approves a scenario's waiting messages", {
  skip: !pgUrl,
}, async () => {
  const ws = ["--workspace", w.workspace.name, "--json"];
  const pending = await allPending();
  const listed = cli(["approvals", "list", "--scenario", "spring_pilot", "--limit", "1000", ...ws]);
  assert.equal(listed.status, 0, listed.err);
  const out = listed.out as { approvals: { messageId: string }[]; waiting: Record<string, number> };
  assert.deepEqual(out.waiting, { spring_pilot: pending.length });
  assert.deepEqual(
    out.approvals.map((a) => a.messageId),
    pending.map((p) => p.messageId),
  );
  const [victim] = pending;
  assert.ok(victim);
  const rejected = cli([
    "approvals",
    "reject",
    victim.messageId,
    "999999999",
    "--reason",
    "too early",
    ...ws,
  ]);
  assert.equal(rejected.status, 1, "an id that could not be rejected makes the command fail");
  assert.deepEqual((rejected.out as { rejected: string[] }).rejected, [victim.messageId]);
  assert.deepEqual(await fateOf(victim.messageId), { fate: "rejected", reason: "too early" });
  const approved = cli(["approvals", "approve", "--all", "--scenario", "spring_pilot", ...ws]);
  assert.equal(approved.status, 0, approved.err);
  assert.equal((approved.out as { approved: string[] }).approved.length, pending.length - 1);
  assert.equal((await allPending()).length, 0);
  // The CLI gives verdicts at the system clock's time: run the engine after it, by day in Berlin.
  const next = new Date(Math.max(Date.now(), clock.now().getTime()) + 86_400_000);
  next.setUTCHours(9, 0, 0, 0);
  clock.set(next);
  const sentBefore = smtp.received.length;
  await engine.runOnce();
  assert.equal(smtp.received.length, sentBefore + pending.length - 1);
  assert.equal(cli(["approvals", "approve", ...ws]).status, 2, "no ids and no --all is a usage error");
});
