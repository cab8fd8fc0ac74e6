// The metrics tree on the real database against figures worked out by hand from the seed (metrics-tree-seed.ts):
// the revenue tree with its edges (the period is half-open, refunds subtract, "Order Completed" counts, a total
// stands in for a missing revenue), reach and digitisation, the message funnel and cost of each channel, scenario
// entries and cost, stage distribution and moves, goal verdicts; then the empty cases.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { attributionReport } from "../src/measure/attribution-report.ts";
import { parsePeriod } from "../src/measure/metrics-period.ts";
import { metricsTree } from "../src/measure/metrics-tree.ts";
import { contributionOf } from "../src/measure/metrics-tree-effects.ts";
import { scenarioEffects } from "../src/measure/scenario-effect.ts";
import { fitCustomerValue } from "../src/measure/value-fit.ts";
import { kindOf, trackKind } from "../src/store/event-sql.ts";
import { insertStrategyVersion } from "../src/store/strategies.ts";
import { createWorkspace } from "../src/store/workspaces.ts";
import { type TestDb, testDb } from "./helpers.ts";
import { NOW, PERIOD, STRATEGY, seedMetrics } from "./metrics-tree-seed.ts";

let t: TestDb;
let wsId: number;

before(async () => {
  t = await testDb();
  const ws = await createWorkspace(t.db, "metrics");
  const other = await createWorkspace(t.db, "other");
  wsId = ws.id;
  await seedMetrics(t.db, ws.id, other.id);
});

after(async () => {
  await t?.close();
});

const close = (actual: number | null, expected: number, what: string) =>
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-9, `${what}: ${actual} ≠ ${expected}`);

test("revenue = active customers × orders per customer × average order value, net of refunds", async () => {
  const tree = await metricsTree(t.db, wsId, { ...PERIOD, now: NOW });
  const r = tree.revenue;
  // orders 100 + 50 (c1), "200" (c2), total 30 (c3), 70 as "Order Completed" (c7); the 999s fall outside
  assert.equal(r.orders, 5);
  assert.equal(r.activeCustomers, 4);
  close(r.grossRevenue, 450, "gross");
  assert.equal(r.refunds, 1);
  close(r.refundedAmount, 50, "refunded");
  close(r.revenue, 400, "net revenue");
  close(r.arpu, 100, "ARPU");
  close(r.ordersPerCustomer, 1.25, "orders per customer");
  close(r.aov, 80, "AOV");
  close(r.activeCustomers * (r.ordersPerCustomer ?? 0) * (r.aov ?? 0), r.revenue, "the tree multiplies out");
  // days in the strategy's time zone: 23:00 UTC on Oct 31 is Nov 1 in Berlin
  assert.deepEqual(
    r.byDay.map((d) => [d.day, d.orders, d.revenue]),
    [
      ["2026-10-03", 1, 100],
      ["2026-10-10", 1, 200],
      ["2026-10-12", 1, 30],
      ["2026-10-20", 1, 50],
      ["2026-10-25", 0, -50],
      ["2026-11-01", 1, 70],
    ],
  );
  assert.equal(tree.currency, "EUR");
  assert.deepEqual(tree.strategy, { version: 1, name: "Metrics school" });
});

test("the base: size, new, identified, digitised, each channel's reach", async () => {
  const { base, channels } = await metricsTree(t.db, wsId, { ...PERIOD, now: NOW });
  assert.equal(base.size, 7, "c8 was first seen after the period");
  assert.equal(base.newCustomers, 1);
  assert.equal(base.identified, 6, "c4 has no id and no contact point");
  assert.equal(base.digitised, 4, "c1, c2, c6 (email, consent unknown), c7");
  close(base.digitisedShare, 4 / 7, "digitised share");
  const email = channels.find((c) => c.channel === "email");
  const sms = channels.find((c) => c.channel === "sms");
  assert.equal(email?.reachable, 3, "opt-in: c6's consent state is no string, so unknown");
  close(email?.reach ?? null, 3 / 7, "email reach");
  assert.equal(sms?.reachable, 1, "c3 unsubscribed from SMS");
});

test("channels: the message funnel, rates per message sent, cost from the strategy", async () => {
  const { channels } = await metricsTree(t.db, wsId, { ...PERIOD, now: NOW });
  assert.deepEqual(
    channels.map((c) => c.channel),
    ["email", "sms", "push"],
  );
  const email = channels[0];
  assert.ok(email);
  assert.deepEqual(
    [email.sent, email.delivered, email.opened, email.clicked, email.bounced, email.unsubscribed],
    [5, 3, 2, 1, 1, 1],
  );
  close(email.rates.delivered, 0.6, "delivered rate");
  close(email.rates.opened, 0.4, "open rate");
  close(email.rates.clicked, 0.2, "click rate");
  close(email.rates.bounced, 0.2, "bounce rate");
  close(email.rates.unsubscribed, 0.2, "unsubscribe rate");
  close(email.cost, 0.25, "email cost");
  assert.equal(email.costPerMessage, 0.05);
  const sms = channels[1];
  assert.deepEqual([sms?.sent, sms?.delivered, sms?.unsubscribed], [2, 1, 1]);
  close(sms?.cost ?? null, 7, "sms cost");
  const push = channels[2];
  assert.equal(push?.costPerMessage, null, "not in the strategy");
  close(push?.cost ?? null, 0.2, "push cost as recorded");
  assert.equal(push?.reachable, 0, "no contact point is known for a channel outside the strategy");
});

test("scenarios: entries of every arm, messages and cost", async () => {
  const { scenarios } = await metricsTree(t.db, wsId, { ...PERIOD, now: NOW });
  const welcome = scenarios.find((s) => s.scenario === "welcome");
  const winback = scenarios.find((s) => s.scenario === "winback");
  assert.deepEqual([welcome?.entered, welcome?.controlEntered, welcome?.sent], [50, 8, 5]);
  close(welcome?.cost ?? null, 0.25, "welcome cost");
  assert.equal(welcome?.goal, "first_lesson");
  assert.deepEqual([winback?.entered, winback?.controlEntered, winback?.sent], [3, 0, 3]);
  close(winback?.cost ?? null, 7.2, "winback cost");
});

test("stages at both ends of the period and the moves between them", async () => {
  const { base } = await metricsTree(t.db, wsId, { ...PERIOD, now: NOW });
  assert.deepEqual(
    base.stages.map((s) => [s.stage, s.atStart, s.atEnd]),
    [
      ["buyer", 0, 3],
      ["lead", 1, 1],
      ["visitor", 5, 3],
    ],
  );
  close(base.stages[0]?.shareAtEnd ?? null, 3 / 7, "buyer share");
  const flows = Object.fromEntries(base.flows.map((f) => [`${f.from ?? "∅"}→${f.to ?? "∅"}`, f.moves]));
  assert.deepEqual(flows, { "visitor→buyer": 2, "lead→buyer": 1, "∅→lead": 1 });
});

test("goals: target against actual, with a verdict", async () => {
  const { goals } = await metricsTree(t.db, wsId, { ...PERIOD, now: NOW });
  const [lesson, winBack, partner] = goals;
  assert.equal(lesson?.goal, "first_lesson");
  assert.deepEqual([lesson?.entries, lesson?.pending, lesson?.conversions], [40, 2, 5]);
  close(lesson?.actual ?? null, 5 / 40, "python lessons within 14 days, both control groups left out");
  assert.equal(lesson?.verdict, "met");
  assert.equal(winBack?.target.kind, "revenue_per_customer");
  assert.deepEqual([winBack?.entries, winBack?.conversions], [3, 3]);
  // c1's 150 and c2's 200 within 30 days, c3's 30 less the 50 refunded: revenue per customer, net of refunds
  close(winBack?.actual ?? null, 330 / 3, "revenue per customer within 30 days");
  assert.equal(winBack?.verdict, "not_enough_data");
  assert.match(winBack?.reason ?? "", /3 customers/);
  assert.equal(partner?.verdict, "not_enough_data");
  assert.equal(partner?.actual, null);
  assert.match(partner?.reason ?? "", /no scenario/);

  // judged on October 10, before the windows closed: the 40 treated who had entered by then are pending
  const early = await metricsTree(t.db, wsId, { ...PERIOD, now: new Date("2026-10-10T00:00:00Z") });
  assert.deepEqual([early.goals[0]?.entries, early.goals[0]?.pending], [0, 40]);
  assert.equal(early.goals[0]?.verdict, "not_enough_data");
});

test("the CRM contribution, uplift, attributed revenue and NPS, each under its own name", async () => {
  const tree = await metricsTree(t.db, wsId, { ...PERIOD, now: NOW });
  // attribution (last touch): c1's 100 after an email click the day before, c2's 200 two hours after an SMS
  const a = tree.attribution;
  assert.ok(a);
  assert.equal(a.model, "last_touch");
  assert.deepEqual([a.revenue, a.attributedRevenue, a.unattributedRevenue], [400, 300, 100]);
  const [email, sms, push] = tree.channels;
  assert.deepEqual(
    [email?.attributedRevenue, sms?.attributedRevenue, push?.attributedRevenue],
    [100, 200, 0],
  );
  close(email?.revenuePerMessage ?? null, 100 / 5, "email revenue per message");
  close(email?.revenuePerSubscriber ?? null, 100 / 3, "email revenue per reachable customer");
  close(sms?.revenuePerSubscriber ?? null, 200, "sms revenue per reachable customer");
  const welcome = tree.scenarios.find((s) => s.scenario === "welcome");
  assert.equal(welcome?.attributedRevenue, 100);
  assert.equal(tree.scenarios.find((s) => s.scenario === "winback")?.attributedRevenue, 200);

  // uplift against the scenario's own control arm: 5 of 42 treated reached the goal, 1 of 4 held out
  const e = welcome?.effect;
  assert.equal(e?.controlSource, "scenario");
  assert.deepEqual([e?.treatment.customers, e?.control.customers], [42, 4]);
  close(e?.uplift?.difference ?? null, 5 / 42 - 1 / 4, "uplift");
  // ROMI: (incremental revenue − the treated group's message cost) ÷ that cost, with its interval
  const inc = e?.incrementalRevenue;
  assert.ok(inc && e?.romi && e.cost > 0, JSON.stringify(e));
  close(e.romi.estimate, (inc.estimate - e.cost) / e.cost, "ROMI");
  close(e.romi.ci.lower, (inc.ci.lower - e.cost) / e.cost, "ROMI lower");

  // the contribution: the strategy against the global control group, as the scenario effect report has it
  const c = tree.contribution;
  assert.ok(c);
  assert.equal(c.control.customers, 4);
  assert.deepEqual(c, contributionOf(await scenarioEffects(t.db, wsId, PERIOD)));
  assert.match(c.label, /^Incremental revenue/);
  assert.match(a.label, /^Attributed revenue/);

  // NPS: (2 promoters − 1 detractor) / 4 answers; by the stage each had when answering
  const nps = tree.nps;
  assert.deepEqual(
    [nps?.nps, nps?.responses, nps?.promoters, nps?.passives, nps?.detractors],
    [25, 4, 2, 1, 1],
  );
  assert.deepEqual(
    nps?.byStage.map((s) => [s.stage, s.nps, s.responses]),
    [
      ["buyer", 100, 2],
      ["visitor", -50, 2],
    ],
  );
});

/** Every number in a value, wherever it sits. */
function numbers(v: unknown, out: number[] = []): number[] {
  if (typeof v === "number") out.push(v);
  else if (Array.isArray(v)) for (const x of v) numbers(x, out);
  else if (v && typeof v === "object") for (const x of Object.values(v)) numbers(x, out);
  return out;
}

test("an empty workspace, a period with no data: zeros and nulls, never NaN", async () => {
  const empty = await createWorkspace(t.db, "empty");
  const tree = await metricsTree(t.db, empty.id, { ...PERIOD, now: NOW });
  assert.equal(tree.strategy, null);
  assert.equal(tree.revenue.revenue, 0);
  assert.equal(tree.revenue.arpu, null);
  assert.equal(tree.base.size, 0);
  assert.equal(tree.base.digitisedShare, null);
  assert.deepEqual(tree.channels, []);
  assert.deepEqual(tree.goals, []);
  assert.ok(tree.notes.some((n) => /No strategy/.test(n)));
  assert.ok(numbers(tree).every(Number.isFinite));

  // a stored version that no longer loads is said, not fatal
  const broken = await createWorkspace(t.db, "broken");
  await insertStrategyVersion(
    t.db.pool,
    broken.id,
    { name: "x", source: "version: 1\nname: [", document: {}, appliedBy: "test", inboxEvents: [] },
    NOW,
  );
  const unread = await metricsTree(t.db, broken.id, { ...PERIOD, now: NOW });
  assert.equal(unread.strategy, null);
  assert.ok(unread.notes.some((n) => /version 1 no longer loads/.test(n)));

  const quiet = await metricsTree(t.db, wsId, {
    from: new Date("2020-01-01T00:00:00Z"),
    to: new Date("2020-02-01T00:00:00Z"),
    now: NOW,
  });
  assert.equal(quiet.revenue.orders, 0);
  assert.equal(quiet.revenue.aov, null);
  assert.equal(quiet.base.size, 0);
  assert.equal(quiet.channels[0]?.rates.opened, null);
  assert.ok(quiet.goals.every((g) => g.verdict === "not_enough_data"));
  assert.ok(numbers(quiet).every(Number.isFinite));
});

test("a goal is its exact event name: an order spelled otherwise is revenue, not the goal", async () => {
  const ws = await createWorkspace(t.db, "spelling");
  await insertStrategyVersion(
    t.db.pool,
    ws.id,
    { name: "Metrics school", source: STRATEGY, document: {}, appliedBy: "test", inboxEvents: [] },
    new Date("2026-09-01T00:00:00Z"),
  );
  await t.db.pool.query(
    `INSERT INTO customers (workspace_id, customer_id, first_seen_at) VALUES ($1, 1, '2026-09-01'), ($1, 2, '2026-09-01')`,
    [ws.id],
  );
  await t.db.pool.query(
    `INSERT INTO events (workspace_id, customer_id, message_id, type, name, occurred_at, received_at, properties)
     VALUES ($1, 1, 's1', 'track', 'order_completed', '2026-10-03T10:00:00Z', now(), '{"revenue": 10}'),
            ($1, 2, 's2', 'track', 'Order Completed', '2026-10-03T10:00:00Z', now(), '{"revenue": 20}')`,
    [ws.id],
  );
  await t.db.pool.query(
    `INSERT INTO scenario_entries (workspace_id, customer_id, scenario, version, entered_at, state, global_control, updated_at)
     SELECT $1, c, 'winback', 1, '2026-10-01T00:00:00Z', 'completed', false, now() FROM unnest(ARRAY[1, 2]) c`,
    [ws.id],
  );
  const tree = await metricsTree(t.db, ws.id, { ...PERIOD, now: NOW });
  assert.equal(tree.revenue.revenue, 30);
  const goal = tree.goals.find((g) => g.goal === "win_back");
  assert.deepEqual([goal?.entries, goal?.conversions, goal?.revenue], [2, 1, 30]);
  const effect = tree.scenarios.find((s) => s.scenario === "winback")?.effect;
  assert.deepEqual(
    [effect?.treatment.customers, effect?.treatment.conversionRate, effect?.treatment.revenue],
    [2, 0.5, 30],
  );
});

test("orders in another currency are left out of every money figure and named; a goal they reach counts", async () => {
  const ws = await createWorkspace(t.db, "currencies");
  await insertStrategyVersion(
    t.db.pool,
    ws.id,
    {
      name: "Metrics school",
      source: STRATEGY,
      document: { currency: "EUR" },
      appliedBy: "test",
      inboxEvents: [],
    },
    new Date("2026-09-01T00:00:00Z"),
  );
  await t.db.pool.query(
    `INSERT INTO customers (workspace_id, customer_id, first_seen_at)
     SELECT $1, c, '2026-09-01' FROM unnest(ARRAY[1, 2, 3]) c`,
    [ws.id],
  );
  // euros (as sent: lower case, padded), dollars with a refund, and an order without a currency (the strategy's)
  await t.db.pool.query(
    `INSERT INTO events (workspace_id, customer_id, message_id, type, name, occurred_at, received_at, properties)
     VALUES ($1, 1, 'e1', 'track', 'order_completed', '2026-10-03T10:00:00Z', now(), '{"revenue": 10, "currency": " eur"}'),
            ($1, 2, 'u1', 'track', 'order_completed', '2026-10-03T10:00:00Z', now(), '{"revenue": 20, "currency": "USD"}'),
            ($1, 2, 'u2', 'track', 'order_refunded', '2026-10-05T10:00:00Z', now(), '{"revenue": 4, "currency": "USD"}'),
            ($1, 3, 'n1', 'track', 'order_completed', '2026-10-04T10:00:00Z', now(), '{"revenue": 5}')`,
    [ws.id],
  );
  await t.db.pool.query(
    `INSERT INTO scenario_entries (workspace_id, customer_id, scenario, version, entered_at, state, global_control, updated_at)
     SELECT $1, c, 'winback', 1, '2026-10-01T00:00:00Z', 'completed', false, now() FROM unnest(ARRAY[1, 2, 3]) c`,
    [ws.id],
  );
  const tree = await metricsTree(t.db, ws.id, { ...PERIOD, now: NOW });
  const r = tree.revenue;
  assert.deepEqual([r.revenue, r.orders, r.activeCustomers, r.refunds], [15, 2, 2, 0]);
  assert.deepEqual(r.otherCurrencies, [{ currency: "USD", orders: 1, refunds: 1 }]);
  assert.ok(
    tree.notes.some((n) => n.includes("another currency than EUR") && n.includes("USD: 1 orders, 1 refunds")),
    tree.notes.join("\n"),
  );
  const effect = tree.scenarios.find((s) => s.scenario === "winback")?.effect;
  assert.deepEqual(
    [effect?.treatment.customers, effect?.treatment.conversionRate, effect?.treatment.revenue],
    [3, 1, 15],
    "the dollar order reaches the goal, its money is not added",
  );
  const effects = await scenarioEffects(t.db, ws.id, { ...PERIOD });
  assert.match(effects.warnings.join(" "), /USD: 1 orders, 1 refunds/);
  const attribution = await attributionReport(t.db, ws.id, { ...PERIOD });
  assert.deepEqual([attribution.conversions.count, attribution.conversions.revenue], [2, 15]);
  assert.equal(attribution.currency, "EUR");
  assert.match(attribution.warnings.join(" "), /USD: 1 orders, 1 refunds/);
  const value = await fitCustomerValue(t.db, ws.id, { calibrationEnd: PERIOD.to, now: PERIOD.to });
  assert.equal(value.customers, 2, "the value models read the orders in euros and without a currency");
  assert.match(value.warnings.join(" "), /USD: 1 orders, 1 refunds/);
});

test("a goal a transactional scenario pursues is judged from its customers; the scenario shows no effect", async () => {
  const ws = await createWorkspace(t.db, "transactional");
  const source = STRATEGY.replace(
    "scenarios:\n",
    "scenarios:\n  confirm:\n    kind: transactional\n    goal: partner_joined\n    trigger: { event: signed_up }\n" +
      "    steps:\n      - send: hello\n        via: [email]\n",
  );
  await insertStrategyVersion(
    t.db.pool,
    ws.id,
    { name: "Metrics school", source, document: {}, appliedBy: "test", inboxEvents: [] },
    new Date("2026-09-01T00:00:00Z"),
  );
  // 40 customers enter on October 1 (their 30-day window closes October 31); 4 of them join the partner programme
  await t.db.pool.query(
    `INSERT INTO scenario_entries (workspace_id, customer_id, scenario, version, entered_at, state, global_control, updated_at)
     SELECT $1, g, 'confirm', 1, '2026-10-01T00:00:00Z', 'completed', false, now() FROM generate_series(1, 40) g`,
    [ws.id],
  );
  await t.db.pool.query(
    `INSERT INTO events (workspace_id, customer_id, message_id, type, name, occurred_at, received_at, properties)
     SELECT $1, g, 'p' || g, 'track', 'partner_joined', '2026-10-05T10:00:00Z', now(), '{}' FROM generate_series(1, 4) g`,
    [ws.id],
  );
  const tree = await metricsTree(t.db, ws.id, { ...PERIOD, now: NOW });
  const goal = tree.goals.find((g) => g.goal === "partner_joined");
  assert.deepEqual(
    [goal?.scenarios, goal?.entries, goal?.conversions, goal?.verdict],
    [["confirm"], 40, 4, "met"],
  );
  assert.equal(goal?.actual, 0.1);
  assert.equal(tree.scenarios.find((s) => s.scenario === "confirm")?.effect, null);
});

test("periods: defaults, whole days, and errors that name the field", () => {
  const now = new Date("2026-11-10T12:00:00Z");
  const d = parsePeriod({}, now);
  assert.ok(d.ok);
  assert.equal(d.to.toISOString(), now.toISOString());
  assert.equal(d.from.toISOString(), "2026-10-11T12:00:00.000Z");
  const whole = parsePeriod({ from: "2026-10-01", to: "2026-10-31" }, now);
  assert.ok(whole.ok);
  assert.equal(whole.to.toISOString(), "2026-11-01T00:00:00.000Z", "the last day is included");
  const bad = parsePeriod({ from: "yesterday" }, now);
  assert.ok(!bad.ok);
  assert.equal(bad.field, "from");
  const badTo = parsePeriod({ to: "2026-13-01" }, now);
  assert.ok(!badTo.ok && badTo.field === "to");
  const reversed = parsePeriod({ from: "2026-10-05", to: "2026-10-01" }, now);
  assert.ok(!reversed.ok);
  assert.equal(reversed.field, "to");
  assert.match(reversed.message, /after from/);
  const future = parsePeriod({ from: "2027-01-01" }, now);
  assert.ok(!future.ok);
  assert.equal(future.field, "from", "only from was given: it is the one to change");
});

test("the reports' conditions on an event's kind are read through the track-kind index", async () => {
  // If the reports' condition on the kind stopped matching the index (migration 012), they would still answer
  // right but read every event of their months again. Each form they use must be planned on the index (seq
  // scans off, so the tiny test tables do not make the planner prefer them).
  const { rows: parts } = await t.db.pool.query<{ name: string }>(
    "SELECT inhrelid::regclass::text AS name FROM pg_inherits WHERE inhparent = 'events_track_kind_idx'::regclass",
  );
  const indexes = new Set(["events_track_kind_idx", ...parts.map((p) => p.name)]);
  // (lists, `IN` and `= ANY`, are left out: on tables this small the planner may rightly filter them after the
  // index instead; at scale they are index conditions too)
  const forms = [`${trackKind("e")} = 'nps_response'`, `${trackKind("e")} = ${kindOf("'Lesson Viewed'")}`];
  const client = await t.db.pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SET LOCAL enable_seqscan = off");
    for (const form of forms) {
      const { rows } = await client.query<{ "QUERY PLAN": unknown }>(
        `EXPLAIN (FORMAT JSON) SELECT count(*) FROM events e
          WHERE e.workspace_id = $1 AND e.type = 'track' AND ${form}
            AND e.occurred_at >= $2 AND e.occurred_at < $3`,
        [wsId, PERIOD.from, PERIOD.to],
      );
      // every index read is the kind index, with the kind among its conditions (not filtered after it)
      const scans: { name: string; cond: string }[] = [];
      const walk = (node: Record<string, unknown>) => {
        if (typeof node["Index Name"] === "string")
          scans.push({ name: node["Index Name"], cond: String(node["Index Cond"] ?? "") });
        for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
      };
      const plan = rows[0]?.["QUERY PLAN"] as { Plan: Record<string, unknown> }[] | undefined;
      walk(plan?.[0]?.Plan ?? {});
      assert.ok(
        scans.length > 0 &&
          scans.every((s) => indexes.has(s.name) && /tact_track_kind|regexp_replace/.test(s.cond)),
        `${form}: ${JSON.stringify(scans)}`,
      );
    }
  } finally {
    await client.query("ROLLBACK");
    client.release();
  }
});
