// The scenario `webhook` step end to end, on a virtual clock, against a real HTTP receiver on loopback: the call is
// planned once per journey and step, sent once with the rendered body and a signature the receiver verifies,
// retried after a 503 (honouring Retry-After), failed at once on a 400 or a body that cannot be rendered (no
// request made), made again after a lease that ran out; the journey never waits for it. Stats and metrics count it.
import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { VirtualClock } from "../src/core/clock.ts";
import { Engine } from "../src/engine/engine.ts";
import { ScenarioRunner } from "../src/engine/scenario-runner.ts";
import { StrategyCache } from "../src/engine/strategy-cache.ts";
import { applyStrategy } from "../src/engine/strategy-runtime.ts";
import { planWebhookCall } from "../src/engine/webhook-calls.ts";
import { ingestMessages } from "../src/ingest/ingest.ts";
import { withTransaction } from "../src/store/db.ts";
import { claimDueWebhookCalls, customerWebhookCalls } from "../src/store/webhook-calls.ts";
import { loadStrategy } from "../src/strategy/load.ts";
import { get, startServer, type TestDb, type TestServer, testDb, testWorkspace } from "./helpers.ts";

const SECRET = "whsec-test-7f3a";
const LEASE_MS = 60_000;

interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A receiver on loopback: records every request, answers each path from its script (then 200). */
class Receiver {
  readonly received: Received[] = [];
  readonly #scripts = new Map<
    string,
    { status: number; headers?: Record<string, string>; body?: string }[]
  >();
  readonly #server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "";
      this.received.push({
        method: req.method ?? "",
        path,
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      });
      const next = this.#scripts.get(path)?.shift() ?? { status: 200, body: "ok" };
      res.writeHead(next.status, next.headers ?? {});
      res.end(next.body ?? "");
    });
  });

  url = "";

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  script(path: string, ...answers: { status: number; headers?: Record<string, string>; body?: string }[]) {
    this.#scripts.set(path, answers);
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

const strategy = (base: string) => `version: 1
name: Hooks
timezone: Europe/Berlin
currency: EUR
goals:
  purchase: { event: order_completed, window: 14d, target: 5% }
channels:
  email: { provider: sink, contact: email }
scenarios:
  to_crm:
    goal: purchase
    trigger: { event: signed_up }
    steps:
      - webhook:
          url: "${base}/crm"
          body:
            email: "{{ customer.email }}"
            name: "{{ customer.first_name }}"
            plan: "{{ event.properties.plan }}"
            scenario: "{{ scenario.name }}"
            seats: 3
            vip: false
            tags: [new, "{{ event.properties.plan | upcase }}"]
          secret_env: HOOK_SECRET
      - update: { synced: true }
  flaky:
    goal: purchase
    trigger: { event: flaky_test }
    steps:
      - webhook: { url: "${base}/flaky", method: PUT, body: { id: "{{ customer.id }}" }, secret_env: HOOK_SECRET }
  refused:
    goal: purchase
    trigger: { event: refused_test }
    steps:
      - webhook: { url: "${base}/refused", body: { id: "{{ customer.id }}" } }
      - update: { after_refusal: true }
  hole:
    goal: purchase
    trigger: { event: hole_test }
    steps:
      - webhook: { url: "${base}/hole", body: { text: "Hi {{ customer.nickname }}" } }
      - update: { after_hole: true }
  unset_secret:
    goal: purchase
    trigger: { event: unset_secret_test }
    steps:
      - webhook: { url: "${base}/unset", secret_env: NOT_SET_ANYWHERE }
  lease:
    goal: purchase
    trigger: { event: lease_test }
    steps:
      - webhook: { url: "${base}/lease", secret_env: HOOK_SECRET }
`;

const receiver = new Receiver();
const clock = new VirtualClock("2026-03-02T10:00:00Z");
let t: TestDb;
let server: TestServer;
let wsId: number;
let adminKey: string;
let engine: Engine;
let ws: Awaited<ReturnType<typeof testWorkspace>>["workspace"];

before(async () => {
  await receiver.listen();
  t = await testDb();
  server = await startServer(t.db, clock);
  const w = await testWorkspace(t.db);
  ws = w.workspace;
  wsId = ws.id;
  adminKey = w.adminKey;
  const r = await applyStrategy(t.db, wsId, strategy(receiver.url), "hooks.yaml", "test", clock.now());
  assert.ok(r.ok, JSON.stringify(!r.ok && r.diagnostics));
  engine = new Engine(t.db, clock, {
    publicUrl: server.url,
    env: { HOOK_SECRET: SECRET },
    leaseMs: LEASE_MS,
  });
});

after(async () => {
  await engine?.stop();
  await server?.close();
  await t?.close();
  await receiver.close();
});

async function track(userId: string, event: string, properties: object = {}, traits?: object) {
  const messages: object[] = [];
  if (traits) messages.push({ type: "identify", userId, traits });
  messages.push({ type: "track", userId, event, properties });
  const r = await ingestMessages(t.db, ws, messages, { receivedAt: clock.now() });
  assert.deepEqual(r.rejected, []);
}

async function customerOf(userId: string): Promise<string> {
  const { rows } = await t.db.pool.query<{ customer_id: string }>(
    "SELECT customer_id FROM identities WHERE workspace_id = $1 AND kind = 'user' AND value = $2",
    [wsId, userId],
  );
  assert.ok(rows[0], `customer ${userId}`);
  return String(rows[0].customer_id);
}

async function callsOf(userId: string) {
  return customerWebhookCalls(t.db.pool, wsId, await customerOf(userId));
}

async function traitsOf(userId: string): Promise<Record<string, unknown>> {
  const { rows } = await t.db.pool.query<{ traits: Record<string, unknown> }>(
    "SELECT traits FROM customers WHERE workspace_id = $1 AND customer_id = $2",
    [wsId, await customerOf(userId)],
  );
  return rows[0]?.traits ?? {};
}

async function eventsOf(userId: string, name: string): Promise<Record<string, unknown>[]> {
  const { rows } = await t.db.pool.query<{ properties: Record<string, unknown> }>(
    "SELECT properties FROM events WHERE workspace_id = $1 AND customer_id = $2 AND name = $3",
    [wsId, await customerOf(userId), name],
  );
  return rows.map((r) => r.properties);
}

/** What a receiver does with the documented recipe: HMAC-SHA256 over "timestamp.body", compared in constant time. */
function verifies(r: Received, secret: string): boolean {
  const timestamp = String(r.headers["x-tact-timestamp"]);
  const given = Buffer.from(String(r.headers["x-tact-signature"]));
  const want = Buffer.from(
    `sha256=${createHmac("sha256", secret).update(`${timestamp}.${r.body}`).digest("hex")}`,
  );
  return given.length === want.length && timingSafeEqual(given, want);
}

test("a webhook step makes one signed POST with the rendered body; the journey goes on at once", async () => {
  await track("ann", "signed_up", { plan: "pro" }, { email: "ann@example.com", first_name: "Ann" });
  const work = await engine.runOnce(clock.now());
  assert.equal(work.webhooks, 1);
  const got = receiver.at("/crm");
  assert.equal(got.length, 1);
  const req = got[0] as Received;
  assert.equal(req.method, "POST");
  assert.equal(req.headers["content-type"], "application/json");
  assert.deepEqual(JSON.parse(req.body), {
    email: "ann@example.com",
    name: "Ann",
    plan: "pro",
    scenario: "to_crm",
    seats: 3,
    vip: false,
    tags: ["new", "PRO"],
  });
  assert.equal(req.headers["x-tact-timestamp"], String(clock.now().getTime() / 1000));
  assert.ok(verifies(req, SECRET), "the signature verifies with the shared secret");
  assert.ok(!verifies(req, "another secret"), "and not with another");
  assert.ok(!verifies({ ...req, body: req.body.replace("pro", "max") }, SECRET), "a changed body fails");

  const [call] = await callsOf("ann");
  assert.equal(req.headers["x-tact-delivery"], call?.callId);
  assert.equal(call?.state, "sent");
  assert.equal(call?.responseStatus, 200);
  assert.equal(call?.attempts, 1);
  assert.equal(call?.body, req.body, "the row keeps exactly the bytes sent and signed");
  assert.equal((await traitsOf("ann")).synced, true, "the step after the webhook ran in the same round");
  assert.deepEqual(
    (await eventsOf("ann", "webhook_sent")).map((p) => [p.scenario, p.step_id, p.status]),
    [["to_crm", "0", 200]],
  );

  // Rounds later, and the same trigger again (the scenario is once per customer): nothing more is planned or sent.
  await engine.runOnce(clock.now());
  clock.advance(3_600_000);
  await track("ann", "signed_up", { plan: "pro" });
  await engine.runOnce(clock.now());
  assert.equal(receiver.at("/crm").length, 1);
  assert.equal((await callsOf("ann")).length, 1);
});

test("a step is planned once per journey: planning it again changes nothing", async () => {
  const { rows } = await t.db.pool.query<{ entry_id: string; entered_at: Date }>(
    "SELECT entry_id, entered_at FROM scenario_entries WHERE workspace_id = $1 AND customer_id = $2",
    [wsId, await customerOf("ann")],
  );
  const rs = await engine.cache.current(t.db.pool, wsId);
  const step = rs?.strategy.scenarios.to_crm?.steps[0];
  assert.ok(rs && step?.kind === "webhook" && rows[0]);
  const plan = {
    entry: {
      workspaceId: wsId,
      entryId: String(rows[0].entry_id),
      customerId: await customerOf("ann"),
      scenario: "to_crm",
      enteredAt: rows[0].entered_at,
      triggerEvent: null,
      context: {},
    },
    step,
    strategy: rs.strategy,
    now: clock.now(),
  };
  assert.equal(await withTransaction(t.db, (c) => planWebhookCall(c, wsId, plan)), false);
  await engine.runOnce(clock.now());
  assert.equal((await callsOf("ann")).length, 1);
  assert.equal(receiver.at("/crm").length, 1);
});

test("a 503 with Retry-After is retried then; the call is sent once the receiver accepts it", async () => {
  receiver.script(
    "/flaky",
    { status: 503, headers: { "retry-after": "120" }, body: "busy" },
    { status: 200 },
  );
  await track("bob", "flaky_test");
  const start = clock.now();
  await engine.runOnce(start);
  assert.equal(receiver.at("/flaky").length, 1);
  let [call] = await callsOf("bob");
  assert.equal(call?.state, "planned");
  assert.equal(call?.responseStatus, 503);
  assert.equal(call?.lastError, "HTTP 503: busy");
  assert.equal(call?.dueAt?.getTime(), start.getTime() + 120_000, "Retry-After decides the next try");

  clock.advance(60_000);
  await engine.runOnce(clock.now());
  assert.equal(receiver.at("/flaky").length, 1, "not before its time");

  clock.advance(61_000);
  await engine.runOnce(clock.now());
  const got = receiver.at("/flaky");
  assert.equal(got.length, 2);
  assert.equal(got[1]?.method, "PUT");
  assert.equal(
    got[1]?.headers["x-tact-delivery"],
    got[0]?.headers["x-tact-delivery"],
    "the same delivery id",
  );
  assert.equal(got[1]?.headers["x-tact-attempt"], "2");
  assert.ok(verifies(got[1] as Received, SECRET));
  [call] = await callsOf("bob");
  assert.equal(call?.state, "sent");
  assert.equal(call?.attempts, 2);
  assert.equal(call?.responseStatus, 200);
  assert.equal(call?.lastError, null);
  clock.advance(3_600_000);
  await engine.runOnce(clock.now());
  assert.equal(receiver.at("/flaky").length, 2);
});

test("a 400 fails the call at once with the status; the journey continued", async () => {
  receiver.script("/refused", { status: 400, body: '{"error":"unknown field id"}' });
  await track("cat", "refused_test");
  await engine.runOnce(clock.now());
  const [call] = await callsOf("cat");
  assert.equal(call?.state, "failed");
  assert.equal(call?.responseStatus, 400);
  assert.equal(call?.lastError, 'HTTP 400: {"error":"unknown field id"}');
  assert.equal(receiver.at("/refused").length, 1);
  assert.equal(receiver.at("/refused")[0]?.headers["x-tact-signature"], undefined, "no secret_env: unsigned");
  assert.equal((await traitsOf("cat")).after_refusal, true);
  assert.deepEqual(
    (await eventsOf("cat", "webhook_failed")).map((p) => [p.status, p.reason]),
    [[400, 'HTTP 400: {"error":"unknown field id"}']],
  );
  clock.advance(24 * 3_600_000);
  await engine.runOnce(clock.now());
  assert.equal(receiver.at("/refused").length, 1, "never tried again");
});

test("a body with a missing variable is a failed call with the reason, and no request", async () => {
  await track("dan", "hole_test");
  await engine.runOnce(clock.now());
  const [call] = await callsOf("dan");
  assert.equal(call?.state, "failed");
  assert.equal(call?.body, null);
  assert.equal(call?.attempts, 0);
  assert.match(call?.lastError ?? "", /^body: body\.text: undefined variable: customer\.nickname/);
  assert.equal(receiver.at("/hole").length, 0);
  assert.equal((await traitsOf("dan")).after_hole, true, "the journey went on");
});

test("a secret_env that is not set fails the call with a clear reason, and no request", async () => {
  await track("eva", "unset_secret_test");
  await engine.runOnce(clock.now());
  const [call] = await callsOf("eva");
  assert.equal(call?.state, "failed");
  assert.equal(call?.lastError, "secret_env: the environment variable NOT_SET_ANYWHERE is not set");
  assert.equal(receiver.at("/unset").length, 0);
  // Without a body, the receiver would have been told who and where.
  assert.deepEqual(JSON.parse(call?.body ?? "null"), {
    scenario: "unset_secret",
    step: "0",
    customer_id: await customerOf("eva"),
    user_id: "eva",
  });
});

test("a call left `sending` by a stopped worker is made again after its lease, with the same delivery id", async () => {
  await track("fay", "lease_test");
  // A worker plans the call and claims it, then dies before the request: the claim is committed, nothing sent.
  await new ScenarioRunner(t.db, new StrategyCache()).runOnce(clock.now());
  const claimed = await withTransaction(t.db, (c) =>
    claimDueWebhookCalls(c, clock.now(), new Date(clock.now().getTime() + LEASE_MS), 10),
  );
  assert.deepEqual(
    claimed.map((c) => c.scenario),
    ["lease"],
  );
  await engine.runOnce(clock.now());
  clock.advance(LEASE_MS - 1000);
  await engine.runOnce(clock.now());
  assert.equal(receiver.at("/lease").length, 0, "the lease holds");
  clock.advance(2000);
  await engine.runOnce(clock.now());
  const got = receiver.at("/lease");
  assert.equal(got.length, 1);
  assert.equal(got[0]?.headers["x-tact-delivery"], claimed[0]?.callId);
  assert.equal(got[0]?.headers["x-tact-attempt"], "2");
  const [call] = await callsOf("fay");
  assert.equal(call?.state, "sent");
  assert.equal(call?.attempts, 2);
});

test("scenario stats and /metrics count the calls by state", async () => {
  const stats = await get(`${server.url}/api/v1/scenarios/flaky/stats`, adminKey);
  assert.equal(stats.status, 200);
  assert.deepEqual(stats.body.webhooks, { sent: 1 });
  assert.deepEqual((await get(`${server.url}/api/v1/scenarios/hole/stats`, adminKey)).body.webhooks, {
    failed: 1,
  });
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  const value = (series: string) =>
    Number(new RegExp(`^${series.replace(/[{}]/g, "\\$&")} (\\S+)$`, "m").exec(metrics)?.[1] ?? "NaN");
  assert.equal(value(`tact_webhook_calls_total{workspace="${ws.name}",outcome="sent"}`), 3);
  assert.equal(value(`tact_webhook_calls_total{workspace="${ws.name}",outcome="failed"}`), 3);
  assert.match(metrics, /^tact_due_lag_seconds\{queue="webhook_calls"\} 0$/m);
});

test("a step's url must be http or https: the error names the field", () => {
  const loaded = loadStrategy(strategy("ftp://files.example.com"), "hooks.yaml");
  assert.equal(loaded.ok, false);
  const d = !loaded.ok ? loaded.diagnostics[0] : undefined;
  assert.match(d?.message ?? "", /http or https/);
  assert.match(d?.text ?? "", /ftp:\/\/files\.example\.com\/crm/);
});
