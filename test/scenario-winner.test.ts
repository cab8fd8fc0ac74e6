// Winners under continuous monitoring, and the global control group's salt rotation, on a virtual clock with a real
// SMTP server. A variant that clearly converts better is declared the winner by the sequential test after some
// looks; with `winner: route` every later entrant outside the control arm gets it, the control arm stays, and the
// stored decision does not move; with `winner: report` it is shown and every arm keeps its share. A rotation draws a new global control group for journeys that begin after it,
// keeps the old one for those before (their messages are still held back), and leaves an old report unchanged.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { VirtualClock } from "../src/core/clock.ts";
import { inGlobalControl } from "../src/core/experiment/index.ts";
import { Engine } from "../src/engine/engine.ts";
import { applyStrategy } from "../src/engine/strategy-runtime.ts";
import { ingestMessages } from "../src/ingest/ingest.ts";
import { monitorWorkspaceExperiments } from "../src/measure/experiment-monitor.ts";
import { scenarioEffects } from "../src/measure/scenario-effect.ts";
import type { Workspace } from "../src/store/workspaces.ts";
import { get, post, startServer, type TestDb, type TestServer, testDb, testWorkspace } from "./helpers.ts";
import { TestSmtp } from "./smtp-server.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = new Date("2026-03-02T10:00:00Z");
const clock = new VirtualClock(T0);
const smtp = new TestSmtp();
let t: TestDb;
let server: TestServer;
let engine: Engine;

const strategy = (port: number, opts: { controlGroup: string; experiment: string }) => `version: 1
name: Shop
timezone: UTC
currency: EUR
goals:
  purchase: { event: order_completed, window: 1d, target: 20% }
channels:
  email: { provider: smtp, host: 127.0.0.1, port: ${port}, from: "Shop <shop@example.com>", cost: 0.1 }
rules:
  consent: opt_out
  control_group: ${opts.controlGroup}
scenarios:
  offer:
    goal: purchase
    trigger: { event: signed_up }
    steps:
      - send: offer
        via: [email]
${opts.experiment}
templates:
  offer: { email: { subject: "Our offer", html: "<p>Hi</p>" } }
  offer_b: { email: { subject: "Our offer, 20% off", html: "<p>Hi</p>" } }
`;

before(async () => {
  await smtp.listen();
  t = await testDb();
  server = await startServer(t.db, clock);
  engine = new Engine(t.db, clock, { publicUrl: server.url, env: {} });
});
after(async () => {
  await engine?.stop();
  await server?.close();
  await t?.close();
  await smtp.close();
});

async function ingest(ws: Workspace, messages: object[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 500) {
    const r = await ingestMessages(t.db, ws, messages.slice(i, i + 500), { receivedAt: clock.now() });
    assert.deepEqual(r.rejected, []);
  }
  await engine.runOnce(clock.now());
}

const signUps = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${prefix}${i}`).flatMap((u) => [
    {
      type: "identify",
      userId: u,
      traits: { email: `${u}@example.com` },
      timestamp: clock.now().toISOString(),
    },
    { type: "track", userId: u, event: "signed_up", timestamp: clock.now().toISOString() },
  ]);

async function entries(ws: Workspace, prefix: string) {
  const { rows } = await t.db.pool.query<{ u: string; id: string; variant: string | null; g: boolean }>(
    `SELECT c.user_id AS u, c.customer_id AS id, e.variant, e.global_control AS g FROM scenario_entries e
       JOIN customers c ON c.workspace_id = e.workspace_id AND c.customer_id = e.customer_id
      WHERE e.workspace_id = $1 AND c.user_id LIKE $2`,
    [ws.id, `${prefix}%`],
  );
  return rows;
}

/** A scenario with variants a and b (b converts 60%, a and the control 10%), run in waves until a winner. */
async function untilWinner(action: "route" | "report") {
  const w = await testWorkspace(t.db);
  const experiment = `    experiment: { variants: { a: offer, b: offer_b }, control: 20%, winner: ${action} }`;
  const applied = await applyStrategy(
    t.db,
    w.workspace.id,
    strategy(smtp.port, { controlGroup: "0%", experiment }),
    "shop.yaml",
    "test",
    clock.now(),
  );
  assert.ok(applied.ok);
  let declared: { winner: string | null; declaredAt: Date | null; looks: number } | undefined;
  let wave = 0;
  for (; wave < 8 && !declared?.winner; wave++) {
    await ingest(w.workspace, signUps(`w${wave}-`, 150));
    // b converts 60% of its customers, a and the control 10%, all half a day after entering.
    clock.advance(12 * HOUR);
    const orders = (await entries(w.workspace, `w${wave}-`)).flatMap((e, i) =>
      (e.variant === "b" ? i % 5 < 3 : i % 10 === 0)
        ? [{ type: "track", userId: e.u, event: "order_completed", properties: { revenue: 30 } }]
        : [],
    );
    await ingest(w.workspace, orders);
    clock.advance(13 * HOUR); // every window of the wave has closed
    const [d] = await monitorWorkspaceExperiments(t.db, w.workspace.id, clock.now());
    assert.ok(d);
    declared = d;
    clock.advance(9 * HOUR);
  }
  assert.equal(declared?.winner, "b", `no winner after ${wave} waves`);
  assert.ok(wave >= 1 && declared?.declaredAt);
  return { w, wave, declaredAt: declared?.declaredAt?.toISOString() };
}

test("a clear winner is declared by the sequential test, stored once, and new entrants are routed to it", async (ctx) => {
  const { w, wave, declaredAt } = await untilWinner("route");
  ctx.diagnostic(`winner declared at look ${wave} (150 customers a wave)`);

  const beforeRouting = clock.now();
  // From now on every entrant outside the control arm gets b; the control arm keeps its share.
  await ingest(w.workspace, signUps("after-", 300));
  const later = await entries(w.workspace, "after-");
  assert.equal(later.length, 300);
  const control = later.filter((e) => e.variant === "control").length;
  assert.ok(control > 30 && control < 90, `${control} of 300 in the control arm`);
  assert.deepEqual(new Set(later.map((e) => e.variant)), new Set(["b", "control"]));

  // Another look neither moves the decision nor its statistics; the report shows it.
  clock.advance(2 * DAY);
  const [again] = await monitorWorkspaceExperiments(t.db, w.workspace.id, clock.now());
  assert.equal(again?.winner, "b");
  assert.equal(again?.declaredAt?.toISOString(), declaredAt);
  const stats = again?.statistics as { arms: { variant: string; pValue: number }[]; alphaPerVariant: number };
  const b = stats.arms.find((a) => a.variant === "b");
  assert.ok(b && b.pValue <= stats.alphaPerVariant);
  // The report over the waves before routing (later entrants bought nothing: they would dilute every arm).
  const r = await scenarioEffects(t.db, w.workspace.id, { to: beforeRouting });
  const x = r.scenarios[0]?.experiment;
  assert.equal(x?.decision?.winner, "b");
  assert.equal(x?.winnerAction, "route");
  assert.equal(x?.decision?.declaredAt, declaredAt);
  const rb = r.scenarios[0]?.variants.find((v) => v.variant === "b")?.effect?.conversion;
  assert.ok(rb && !("error" in rb) && rb.difference > 0.3);
});

test("with winner: report the winner is shown and every variant keeps receiving customers", async () => {
  const { w, declaredAt } = await untilWinner("report");
  await ingest(w.workspace, signUps("kept-", 300));
  const later = await entries(w.workspace, "kept-");
  const count = (v: string) => later.filter((e) => e.variant === v).length;
  // 80% split evenly between a and b (120 each), 20% control (60)
  assert.ok(
    count("a") > 80 && count("b") > 80 && count("control") > 30,
    JSON.stringify([count("a"), count("b")]),
  );
  const r = await scenarioEffects(t.db, w.workspace.id, { to: clock.now() });
  const x = r.scenarios[0]?.experiment;
  assert.equal(x?.winnerAction, "report");
  assert.equal(x?.decision?.winner, "b");
  assert.equal(x?.decision?.declaredAt, declaredAt);
});

test("rotating the global control salt draws a new group for new journeys and keeps old reports true", async () => {
  const w = await testWorkspace(t.db);
  const ok = await applyStrategy(
    t.db,
    w.workspace.id,
    strategy(smtp.port, { controlGroup: "10%", experiment: "" }),
    "shop.yaml",
    "test",
    clock.now(),
  );
  assert.ok(ok.ok);
  const before = await get(`${server.url}/api/v1/control-group`, w.adminKey);
  assert.equal(before.status, 200);
  assert.equal(before.body.share, 0.1);
  assert.equal(before.body.periods.length, 1);
  await ingest(w.workspace, signUps("old-", 400));
  const old = await entries(w.workspace, "old-");
  const held = old.filter((e) => e.g);
  assert.ok(held.length > 15 && held.length < 70, `${held.length} of 400 held out`);
  // Held-out customers get a record of the message they were not sent.
  const { rows: fates } = await t.db.pool.query<{ reason: string; n: string }>(
    `SELECT reason, count(*) AS n FROM messages WHERE workspace_id = $1 AND customer_id = ANY($2::bigint[]) GROUP BY reason`,
    [w.workspace.id, held.map((e) => e.id)],
  );
  assert.deepEqual(fates, [{ reason: "control_group", n: String(held.length) }]);
  clock.advance(2 * DAY);
  const to = clock.now();
  const report = await scenarioEffects(t.db, w.workspace.id, { to });

  clock.advance(HOUR);
  const rotated = await post(
    `${server.url}/api/v1/control-group/rotate`,
    {},
    { authorization: `Bearer ${w.adminKey}` },
  );
  assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
  assert.equal(rotated.body.periods.length, 2);
  assert.equal(rotated.body.periods[1].from, clock.now().toISOString());
  assert.equal(rotated.body.periods[0].until, clock.now().toISOString());
  assert.notEqual(rotated.body.periods[0].fingerprint, rotated.body.periods[1].fingerprint);
  const { rows: salts } = await t.db.pool.query<{ salt: string; starts_at: Date }>(
    "SELECT salt, starts_at FROM global_control_periods WHERE workspace_id = $1 ORDER BY starts_at",
    [w.workspace.id],
  );
  assert.equal(salts.length, 2);
  for (const s of salts) assert.ok(!JSON.stringify(rotated.body).includes(s.salt), "a salt is never shown");

  // The report over the period before the rotation is the same as before it.
  assert.deepEqual(await scenarioEffects(t.db, w.workspace.id, { to }), report);
  // New journeys are held out by the new period's salt; old ones keep what they had.
  await ingest(w.workspace, signUps("new-", 400));
  const periods = salts.map((s) => ({ salt: s.salt, from: s.starts_at.getTime(), fraction: 0.1 }));
  const fresh = await entries(w.workspace, "new-");
  for (const e of fresh) assert.equal(e.g, inGlobalControl(e.id, periods, clock.now().getTime()), e.u);
  const firstPeriod = [periods[0] ?? { salt: "", from: 0, fraction: 0 }];
  const moved = fresh.filter((e) => e.g !== inGlobalControl(e.id, firstPeriod, clock.now().getTime()));
  assert.ok(moved.length > 10, "the new salt draws a different group");
  const again = await entries(w.workspace, "old-");
  assert.deepEqual(again.map((e) => [e.u, e.g]).sort(), old.map((e) => [e.u, e.g]).sort());
  const tooSoon = await post(
    `${server.url}/api/v1/control-group/rotate`,
    {},
    { authorization: `Bearer ${w.adminKey}` },
  );
  assert.equal(tooSoon.status, 409);
});
