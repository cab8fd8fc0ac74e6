// The strategy lint and the communication-pressure model: each warning fires on a strategy crafted to deserve it
// (and names the place in the file), none fires on the example strategies, and the pressure figures match a
// case small enough to compute by hand, with the facts read from a real database.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { gatherStrategyFacts } from "../src/engine/strategy-facts.ts";
import { ensureEventPartitions } from "../src/store/partitions.ts";
import { createWorkspace } from "../src/store/workspaces.ts";
import type { Diagnostic } from "../src/strategy/diagnostics.ts";
import { lintStrategy } from "../src/strategy/lint.ts";
import { loadStrategy } from "../src/strategy/load.ts";
import type { StrategySource } from "../src/strategy/positions.ts";
import { estimatePressure, type StrategyFacts } from "../src/strategy/pressure.ts";
import type { Strategy } from "../src/strategy/types.ts";
import { type TestDb, testDb } from "./helpers.ts";

const DAY = 86_400_000;
const NOW = new Date();

let t: TestDb;
let workspaceId: number;

/** Four customers: two opted-in email leads who each viewed an item 14 times in the last 28 days, one buyer
 * without consent, one anonymous visitor. Nobody has a phone. */
before(async () => {
  t = await testDb();
  workspaceId = (await createWorkspace(t.db, "lint")).id;
  const optedIn = JSON.stringify({ email: { state: "opted_in", at: NOW.toISOString() } });
  const { rows } = await t.db.pool.query<{ customer_id: string }>(
    `INSERT INTO customers (workspace_id, customer_id, email, consents, orders, revenue)
     VALUES ($1, nextval('customer_id_seq'), 'a@example.com', $2::jsonb, 0, 0),
            ($1, nextval('customer_id_seq'), 'b@example.com', $2::jsonb, 0, 0),
            ($1, nextval('customer_id_seq'), 'c@example.com', '{}'::jsonb, 1, 100),
            ($1, nextval('customer_id_seq'), NULL, '{}'::jsonb, 0, 0)
     RETURNING customer_id`,
    [workspaceId, optedIn],
  );
  const viewers = rows.slice(0, 2).map((r) => r.customer_id);
  const times = Array.from({ length: 14 }, (_, i) => new Date(NOW.getTime() - (i * 2 + 1) * DAY));
  await ensureEventPartitions(t.db, times);
  for (const id of viewers) {
    for (const [i, at] of times.entries()) {
      await t.db.pool.query(
        `INSERT INTO events (workspace_id, customer_id, message_id, type, name, occurred_at, received_at)
         VALUES ($1, $2, $3, 'track', 'viewed_item', $4, $4)`,
        [workspaceId, id, `m-${id}-${i}`, at],
      );
    }
  }
});

after(async () => {
  await t?.close();
});

interface Loaded {
  strategy: Strategy;
  source: StrategySource;
  text: string;
}

function load(text: string, file = "crafted.yaml"): Loaded {
  const r = loadStrategy(text, file);
  if (!r.ok)
    throw new Error(r.diagnostics.map((d) => `${d.line}:${d.column} ${d.code} ${d.message}`).join("\n"));
  return { strategy: r.strategy, source: r.source, text };
}

function doc(parts: {
  rules?: string;
  stages?: string;
  segments?: string;
  scenarios: string;
  templates?: string;
}): string {
  return `version: 1
name: Crafted
timezone: UTC
currency: EUR
goals:
  buy: { event: order_completed, window: 14d, target: 5% }
channels:
  email: { provider: smtp, from: "Shop <shop@example.com>" }
  sms: { provider: smpp, sender: SHOP }
rules:
${parts.rules ?? "  control_group: 0%\n  min_gap: 0s"}
stages:
${parts.stages ?? `  buyer: "orders >= 1"\n  lead: "consent.email == 'opted_in'"\n  visitor: "true"`}
segments:
${parts.segments ?? `  viewers: "count(viewed_item, 28d) >= 1"`}
scenarios:
${parts.scenarios}
templates:
  hello:
    email: { subject: "Hello", html: "<p>Hello</p>" }
    sms: { text: "Hello" }
  news:
    email: { subject: "News", html: "<p>News</p>" }
${parts.templates ?? ""}`;
}

/** Scenarios serving every stage, so that coverage is not what a test is about. */
const SERVE_ALL = ["buyer", "lead", "visitor"]
  .map(
    (s) =>
      `  serve_${s}:\n    goal: buy\n    trigger: { stage_entered: ${s} }\n    steps:\n      - send: hello\n        via: email`,
  )
  .join("\n");

function codes(list: Diagnostic[]): string[] {
  return list.map((d) => d.code).filter((c) => c !== "lint_skipped");
}

function lint(l: Loaded, facts: StrategyFacts | null): Diagnostic[] {
  return lintStrategy(l.strategy, facts, { source: l.source, now: NOW });
}

/** The line of the file a diagnostic points at, to check it is placed where the problem is. */
function lineOf(l: Loaded, d: Diagnostic | undefined): string {
  assert.ok(d, "expected a diagnostic");
  return l.text.split("\n")[d.line - 1] ?? "";
}

test("the example strategies raise no lint warning", () => {
  for (const file of ["examples/online-school/strategy.yaml", "examples/flower-shop/strategy.yaml"]) {
    const r = loadStrategy(readFileSync(file), file);
    assert.ok(r.ok, `${file} loads: ${r.ok ? "" : JSON.stringify(r.diagnostics.slice(0, 3))}`);
    const found = lintStrategy(r.strategy, null, { source: r.source, now: NOW });
    assert.deepEqual(codes(found), [], found.map((d) => `${d.line}: ${d.code} ${d.message}`).join("\n"));
    assert.ok(
      found.some((d) => d.code === "lint_skipped"),
      "without data the lint says what it skipped",
    );
  }
});

test("a stage no scenario serves, and one hidden behind the catch-all stage", () => {
  const l = load(
    doc({
      stages: `  buyer: "orders >= 1"\n  visitor: "true"\n  ghost: "orders >= 5"`,
      scenarios: `  only_buyers:\n    goal: buy\n    audience: "stage == 'buyer'"\n    trigger: { event: order_completed }\n    steps:\n      - send: hello\n        via: email`,
    }),
  );
  const found = lint(l, null);
  const notServed = found.filter((d) => d.code === "stage_not_served");
  assert.deepEqual(notServed.map((d) => lineOf(l, d).trim().split(":")[0]).sort(), ["ghost", "visitor"]);
  const hidden = found.find((d) => d.code === "stage_unreachable");
  assert.match(lineOf(l, hidden), /ghost/);
  assert.match(hidden?.message ?? "", /move it above 'visitor'/);
});

test("scenarios that can never fire: contradictions, a constant false, a date in the past", () => {
  const l = load(
    doc({
      scenarios: `${SERVE_ALL}
  contradiction:
    goal: buy
    audience: "orders == 1 and orders == 2"
    trigger: { event: order_completed }
    steps:
      - send: hello
        via: email
  negative:
    goal: buy
    audience: "orders < 0"
    trigger: { event: order_completed }
    steps:
      - send: hello
        via: email
  two_stages:
    goal: buy
    audience: "stage == 'buyer' and stage == 'lead'"
    trigger: { event: order_completed }
    steps:
      - send: hello
        via: email
  past:
    goal: buy
    trigger: { schedule: { at: "2020-03-01 10:00" } }
    steps:
      - send: hello
        via: email
  fine:
    goal: buy
    audience: "orders >= 1 and orders <= 3"
    trigger: { event: order_completed }
    steps:
      - send: hello
        via: email`,
    }),
  );
  const never = lint(l, null).filter((d) => d.code === "scenario_never_fires");
  const lines = never.map((d) => lineOf(l, d).trim());
  assert.equal(never.length, 4, lines.join("\n"));
  assert.ok(lines.some((s) => s.includes("orders == 1 and orders == 2")));
  assert.ok(lines.some((s) => s.includes("orders < 0")));
  assert.ok(lines.some((s) => s.includes("stage == 'buyer' and stage == 'lead'")));
  assert.ok(lines.some((s) => s.includes("2020-03-01")));
  assert.ok(!lines.some((s) => s.includes("orders <= 3")), "a satisfiable range is not flagged");
});

test("a best step whose template lacks a body for a channel it may choose", () => {
  const l = load(
    doc({
      scenarios: `${SERVE_ALL}\n  newsy:\n    goal: buy\n    trigger: { event: order_completed }\n    steps:\n      - send: news\n        via: best`,
    }),
  );
  const d = lint(l, null).find((x) => x.code === "template_missing_for_best");
  assert.match(lineOf(l, d), /send: news/);
  assert.match(d?.message ?? "", /sms/);
  assert.match(d?.message ?? "", /templates\.news\.sms/);
});

test("with data: empty segments and audiences, channels nobody can be reached on", async () => {
  const l = load(
    doc({
      segments: `  viewers: "count(viewed_item, 28d) >= 1"\n  companies: "traits.company exists"`,
      scenarios: `${SERVE_ALL}\n  b2b_offer:\n    goal: buy\n    audience: "segment('companies')"\n    trigger: { event: order_completed }\n    steps:\n      - send: hello\n        via: [sms]`,
    }),
  );
  const facts = await gatherStrategyFacts(t.db, workspaceId, l.strategy, NOW);
  assert.equal(facts.customers, 4);
  assert.deepEqual(facts.stages, { buyer: 1, lead: 2, visitor: 1 });
  assert.deepEqual(facts.segments, { viewers: 2, companies: 0 });
  assert.deepEqual(facts.channels.email, { withContact: 3, optedIn: 2, reachable: 2 });
  assert.deepEqual(facts.channels.sms, { withContact: 0, optedIn: 0, reachable: 0 });
  const found = lint(l, facts);
  assert.match(
    lineOf(
      l,
      found.find((d) => d.code === "segment_empty"),
    ),
    /companies/,
  );
  assert.match(
    lineOf(
      l,
      found.find((d) => d.code === "audience_empty"),
    ),
    /segment\('companies'\)/,
  );
  const sms = found.find((d) => d.code === "channel_unreachable");
  assert.match(lineOf(l, sms), /^\s+sms:/);
  assert.match(sms?.message ?? "", /phone/);
  assert.ok(!found.some((d) => d.code === "lint_skipped"));
  assert.deepEqual(
    found.filter((d) => d.code === "segment_empty").map((d) => lineOf(l, d).trim().split(":")[0]),
    ["companies"],
    "the segment with members is not flagged",
  );
});

test("pressure: a daily schedule with two emails is 14 a week, over a cap of 3 per 7 days", async () => {
  const l = load(
    doc({
      rules: "  control_group: 0%\n  min_gap: 0s\n  frequency:\n    - { max: 3, per: 7d }",
      scenarios: `${SERVE_ALL.replace(/via: email/g, "via: sms")}
  daily_digest:
    goal: buy
    trigger: { schedule: { every: day, time: "10:00" } }
    reentry: 1d
    steps:
      - send: hello
        via: [email]
      - send: news
        via: [email]`,
    }),
  );
  const facts = await gatherStrategyFacts(t.db, workspaceId, l.strategy, NOW);
  const p = estimatePressure(l.strategy, facts);
  assert.equal(p.scenarios.daily_digest?.perEntry.email, 2);
  // Every one of the 4 customers is in the audience: 7 entries a week × 2 emails.
  assert.ok(Math.abs((p.byChannel.email ?? 0) - 14) < 1e-9, `email per week ${p.byChannel.email}`);
  const finding = p.findings.find((f) => f.kind === "scenario_over_cap");
  assert.ok(finding && finding.kind === "scenario_over_cap" && Math.abs(finding.expected - 14) < 1e-9);
  const d = lint(l, facts).find((x) => x.code === "pressure_over_cap");
  assert.match(lineOf(l, d), /steps:/);
  assert.match(d?.message ?? "", /about 14 messages on all channels within 7d/);
  assert.match(d?.message ?? "", /about 11 would be capped/);
});

test("pressure from event rates: 14 views in 28 days per viewer, re-entry after a day", async () => {
  const l = load(
    doc({
      rules: "  control_group: 0%\n  min_gap: 0s\n  frequency:\n    - { max: 3, per: 7d, channels: [email] }",
      scenarios: `${SERVE_ALL.replace(/via: email/g, "via: sms")}
  viewed:
    goal: buy
    trigger: { event: viewed_item }
    reentry: 1d
    steps:
      - send: hello
        via: [email]`,
    }),
  );
  const facts = await gatherStrategyFacts(t.db, workspaceId, l.strategy, NOW);
  assert.deepEqual(
    { ...facts.scenarios.viewed, audienceByStage: undefined },
    { audience: 4, audienceByStage: undefined, entries: 28, entrants: 2 },
  );
  const p = estimatePressure(l.strategy, facts);
  // 28 entries in 4 weeks over an audience of 4 = 1.75 a week per customer; 3.5 for each viewer.
  assert.ok(Math.abs((p.byChannel.email ?? 0) - 1.75) < 1e-9, `email per week ${p.byChannel.email}`);
  assert.ok(Math.abs((p.scenarios.viewed?.recipientEntriesPerWeek ?? 0) - 3.5) < 1e-9);
  assert.ok(
    lint(l, facts).some(
      (d) => d.code === "pressure_over_cap" && /about 3\.5 messages on email/.test(d.message),
    ),
  );
  // Without data the rate is unknown: no finding, and the scenario is named as unknown.
  const blind = estimatePressure(l.strategy, null);
  assert.deepEqual(blind.unknownRates.includes("viewed"), true);
  assert.ok(!blind.findings.some((f) => f.kind === "scenario_over_cap"));
});

test("pressure: scenarios under the cap alone but over it together, and the minimum gap", () => {
  const weekly = (name: string, day: string) =>
    `  ${name}:\n    goal: buy\n    trigger: { schedule: { every: ${day}, time: "10:00" } }\n    reentry: 7d\n    steps:\n      - send: hello\n        via: [email]`;
  const l = load(
    doc({
      rules: "  control_group: 0%\n  min_gap: 4h\n  frequency:\n    - { max: 2, per: 7d, channels: [email] }",
      scenarios: `${SERVE_ALL.replace(/via: email/g, "via: sms")}
${weekly("monday_news", "monday")}
${weekly("wednesday_tips", "wednesday")}
${weekly("friday_offer", "friday")}
  double:
    goal: buy
    trigger: { event: order_completed }
    steps:
      - send: hello
        via: [sms]
      - send: hello
        via: [sms]`,
    }),
  );
  const found = lint(l, null);
  const combined = found.find((d) => d.code === "pressure_combined");
  assert.match(lineOf(l, combined), /max: 2, per: 7d/);
  assert.match(combined?.message ?? "", /about 3 messages on email/);
  assert.match(combined?.message ?? "", /monday_news|wednesday_tips|friday_offer/);
  assert.ok(!found.some((d) => d.code === "pressure_over_cap"), "no scenario is over the cap alone");
  const gap = found.find((d) => d.code === "pressure_min_gap");
  assert.equal(gap?.line, l.text.split("\n").findLastIndex((line) => line.includes("send: hello")) + 1);
  assert.match(gap?.message ?? "", /wait: 4h/);
});
