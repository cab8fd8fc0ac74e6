// The comparison of two groups on the edges a real report meets: an empty group, a control of one customer,
// nobody spending anything, refunds that make revenue negative, and no cost. Each gives figures or a reason —
// never NaN or Infinity, which JSON would silently turn into null.
import assert from "node:assert/strict";
import { test } from "node:test";
import { compareGroups, EMPTY, figures, type GroupTotals } from "./effect-comparison.ts";

const names = { treatment: "treatment", control: "control" };

function finiteEverywhere(value: unknown, path = "result"): void {
  if (typeof value === "number") assert.ok(Number.isFinite(value), `${path} is ${value}`);
  else if (Array.isArray(value)) for (const [i, v] of value.entries()) finiteEverywhere(v, `${path}[${i}]`);
  else if (value && typeof value === "object")
    for (const [k, v] of Object.entries(value)) finiteEverywhere(v, `${path}.${k}`);
}

/** Totals of a list of revenues; a customer converted when they spent anything. */
function group(revenues: number[], cost = 0): GroupTotals {
  return {
    n: revenues.length,
    conversions: revenues.filter((r) => r !== 0).length,
    revenue: revenues.reduce((s, r) => s + r, 0),
    revenueSquares: revenues.reduce((s, r) => s + r * r, 0),
    pending: 0,
    sent: revenues.length,
    cost,
  };
}

test("an empty control group gives reasons, and the figures of an empty group are null, not NaN", () => {
  const c = compareGroups(names, group([10, 0, 0, 5], 2), EMPTY, {
    control: [],
    treatment: [10, 0, 0, 5],
    resamples: 200,
    seed: 1,
  });
  finiteEverywhere(c);
  assert.match("error" in c.conversion ? c.conversion.error : "", /control group is empty/);
  assert.ok("error" in c.revenue);
  assert.ok(c.revenueBootstrap && "error" in c.revenueBootstrap);
  assert.equal(c.incrementalConversions, null);
  assert.equal(c.romi, null);
  const f = figures("control", EMPTY);
  assert.deepEqual([f.conversionRate, f.revenuePerCustomer, f.revenueStandardDeviation], [null, null, null]);
});

test("a control group of one customer: the rate is compared, revenue says it needs two", () => {
  const c = compareGroups(names, group([10, 0, 0, 5, 0, 0], 1), group([0]), null);
  finiteEverywhere(c);
  assert.ok(!("error" in c.conversion));
  assert.match("error" in c.revenue ? c.revenue.error : "", /at least 2 customers/);
  assert.ok(c.warnings.some((w) => /revenue: control group needs at least 2/.test(w)));
});

test("nobody spent anything: no difference, p = 1, no relative change, ROMI −100%", () => {
  const c = compareGroups(names, group([0, 0, 0, 0], 4), group([0, 0, 0]), null);
  finiteEverywhere(c);
  assert.ok(!("error" in c.revenue) && !("error" in c.conversion));
  assert.equal(c.revenue.difference, 0);
  assert.equal(c.revenue.pValue, 1);
  assert.equal(c.revenue.relativeDifference, null);
  assert.equal(c.conversion.pValue, 1);
  assert.deepEqual(c.romi, { estimate: -1, ci: { lower: -1, upper: -1 } });
});

test("refunds make revenue negative: means, intervals and incremental money follow the sign", () => {
  const treatment = [50, 0, 0, 30, 0, -20, 0, 40];
  const control = [-20, 0, 0, -10, 0, 0, 10, 0];
  const c = compareGroups(names, group(treatment, 4), group(control), {
    control,
    treatment,
    resamples: 500,
    seed: 3,
  });
  finiteEverywhere(c);
  assert.ok(!("error" in c.revenue));
  // by hand: treatment mean 100/8 = 12.5, control mean −20/8 = −2.5
  assert.equal(c.revenue.treatment, 12.5);
  assert.equal(c.revenue.control, -2.5);
  assert.equal(c.revenue.difference, 15);
  assert.equal(c.incrementalRevenue?.estimate, 120);
  assert.equal(c.romi?.estimate, (120 - 4) / 4);
  assert.equal(c.revenue.relativeDifference, null, "no ratio to a negative baseline");
  assert.ok(c.warnings.some((w) => /control's revenue per customer is negative/.test(w)));
  assert.ok(c.revenueBootstrap && !("error" in c.revenueBootstrap));
  assert.ok(c.revenueBootstrap.ci.lower < 15 && c.revenueBootstrap.ci.upper > 15);
  // eight customers a group cannot show a 15 difference at 80% power
  assert.ok(c.warnings.some((w) => /revenue: groups too small/.test(w)));
});
