// The goals' verdicts are read from the scenario effect report: each pursuing scenario's treated customers whose
// window had closed, summed over the scenarios (a transactional one too), with the reason when nothing can be
// counted. Pure: the report is built here.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { GroupFigures } from "../src/measure/effect-comparison.ts";
import { goalResults } from "../src/measure/metrics-tree-goals.ts";
import type { ScenarioEffect, ScenarioEffectReport } from "../src/measure/scenario-effect.ts";
import { loadStrategy } from "../src/strategy/load.ts";

const loaded = loadStrategy(
  `version: 1
name: Goals
timezone: UTC
currency: EUR
goals:
  confirmed: { event: subscription_confirmed, window: 3d, target: 40% }
  bought: { event: order_completed, window: 14d, target: 50 }
  joined: { event: partner_joined, window: 30d, target: 5% }
channels:
  email: { provider: smtp, from: "Shop <s@example.com>" }
scenarios:
  confirm:
    kind: transactional
    goal: confirmed
    trigger: { event: signed_up }
    steps: [{ send: hello, via: [email] }]
  welcome:
    goal: confirmed
    trigger: { event: signed_up }
    steps: [{ send: hello, via: [email] }]
  promo:
    goal: bought
    trigger: { event: came_back }
    steps: [{ send: hello, via: [email] }]
templates:
  hello:
    email: { subject: "Hello", html: "<p>Hi</p>" }
`,
  "goals.yaml",
);
assert.ok(loaded.ok, JSON.stringify(!loaded.ok && loaded.diagnostics));
const strategy = loaded.strategy;

const group = (customers: number, conversions: number, revenue: number, windowOpen = 0): GroupFigures => ({
  group: "g",
  customers,
  conversions,
  conversionRate: customers > 0 ? conversions / customers : null,
  revenue,
  revenuePerCustomer: customers > 0 ? revenue / customers : null,
  revenueStandardDeviation: null,
  messagesSent: 0,
  cost: 0,
  windowOpen,
});

function effect(scenario: string, goal: string, closed: GroupFigures, open: number): ScenarioEffect {
  const none = group(0, 0, 0);
  return {
    scenario,
    goal,
    goalEvent: "x",
    windowDays: 3,
    mode: "live",
    controlSource: null,
    control: none,
    // the treatment counts the open windows too; only the closed ones are judged
    treatment: group(closed.customers + open, closed.conversions + open, closed.revenue + 1000, open),
    treatmentClosed: closed,
    effect: null,
    variants: [],
    experiment: null,
    pilot: null,
    globalControl: none,
    warnings: [],
  };
}

const report = (scenarios: ScenarioEffect[]): ScenarioEffectReport => ({
  from: null,
  to: "2026-11-01T00:00:00.000Z",
  currency: null,
  confidence: 0.95,
  strategy: null,
  scenarios,
  warnings: [],
});

test("a goal sums the closed windows of every scenario pursuing it, transactional too", () => {
  const [confirmed, bought, joined] = goalResults(
    strategy,
    report([
      effect("confirm", "confirmed", group(60, 30, 0), 5),
      effect("welcome", "confirmed", group(40, 10, 0), 2),
      effect("promo", "bought", group(30, 6, 1200), 9),
    ]),
    "unused",
  );
  assert.deepEqual(
    [confirmed?.scenarios, confirmed?.entries, confirmed?.pending, confirmed?.conversions],
    [["confirm", "welcome"], 100, 7, 40],
  );
  assert.equal(confirmed?.actual, 0.4);
  assert.equal(confirmed?.verdict, "met");
  // revenue per customer: 1,200 over 30 closed windows is 40, under the target of 50
  assert.deepEqual([bought?.actual, bought?.verdict], [40, "not_met"]);
  assert.match(bought?.reason ?? "", /below the target over 30 customers/);
  assert.deepEqual(
    [joined?.verdict, joined?.actual, joined?.reason],
    ["not_enough_data", null, "no scenario pursues this goal"],
  );
});

test("fewer than 30 closed windows, or no effect report: not enough data, with the reason", () => {
  const few = goalResults(strategy, report([effect("promo", "bought", group(29, 29, 9000), 4)]), "unused");
  const bought = few.find((g) => g.goal === "bought");
  assert.equal(bought?.verdict, "not_enough_data");
  assert.equal(
    bought?.reason,
    "29 customers with a closed window, fewer than 30 (4 more still inside the 14-day window)",
  );
  const confirmed = few.find((g) => g.goal === "confirmed");
  assert.equal(confirmed?.reason, "the scenarios pursuing it are not in the strategy in force");

  const failed = goalResults(strategy, null, "the effects could not be computed");
  assert.ok(failed.every((g) => g.verdict === "not_enough_data" && g.actual === null));
  assert.equal(failed[0]?.reason, "the effects could not be computed");
  assert.equal(failed[2]?.reason, "no scenario pursues this goal");
});
