// Bucket assignment: uniform over buckets, independent between scopes, sticky; arms carved as configured; the
// rotating global control group answered for any past moment.
import assert from "node:assert/strict";
import { test } from "node:test";
import { chiSquaredSurvival } from "../stats/distributions.ts";
import { armOfBucket, assignArm, planArms } from "./arms.ts";
import { BUCKETS, bucketOf } from "./bucket.ts";
import { globalControlHistory, inGlobalControl, type SaltPeriod } from "./global-control.ts";

const IDS = Array.from({ length: 100_000 }, (_, i) => `customer-${i}`);

test("buckets are uniform over 0..9999 for 100k customers (chi-squared, p > 0.001)", (t) => {
  const counts = new Array<number>(BUCKETS).fill(0);
  for (const id of IDS) {
    const b = bucketOf("salt-1", id);
    assert.ok(Number.isInteger(b) && b >= 0 && b < BUCKETS);
    counts[b] = (counts[b] ?? 0) + 1;
  }
  const expected = IDS.length / BUCKETS;
  const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
  const p = chiSquaredSurvival(chi2, BUCKETS - 1);
  t.diagnostic(`chi-squared ${chi2.toFixed(1)} on ${BUCKETS - 1} df, p = ${p.toFixed(4)}`);
  assert.ok(p > 0.001, `p = ${p}`);
});

test("buckets of two scopes are independent (contingency chi-squared over deciles, p > 0.001)", (t) => {
  const table = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
  for (const id of IDS) {
    const row = table[Math.floor(bucketOf("salt-1", id, "welcome") / 1000)];
    const col = Math.floor(bucketOf("salt-1", id, "winback") / 1000);
    if (row) row[col] = (row[col] ?? 0) + 1;
  }
  const rows = table.map((r) => r.reduce((s, c) => s + c, 0));
  const cols = table[0]?.map((_, j) => table.reduce((s, r) => s + (r[j] ?? 0), 0)) ?? [];
  let chi2 = 0;
  table.forEach((r, i) => {
    r.forEach((c, j) => {
      const e = ((rows[i] ?? 0) * (cols[j] ?? 0)) / IDS.length;
      chi2 += (c - e) ** 2 / e;
    });
  });
  const p = chiSquaredSurvival(chi2, 81);
  t.diagnostic(`chi-squared ${chi2.toFixed(1)} on 81 df, p = ${p.toFixed(4)}`);
  assert.ok(p > 0.001, `p = ${p}`);
});

test("buckets are sticky and change with the salt, scope or id", () => {
  assert.equal(bucketOf("s", "42", "welcome"), bucketOf("s", "42", "welcome"));
  const moved = IDS.slice(0, 1000).filter((id) => bucketOf("s", id) !== bucketOf("s2", id)).length;
  assert.ok(moved > 990, "a new salt reshuffles almost everyone");
  // The parts are encoded so that shifting text between them gives a different input.
  const pairs = IDS.slice(0, 1000).filter((id) => bucketOf("ab", id, "c") === bucketOf("a", id, "bc")).length;
  assert.ok(pairs < 10);
  assert.notEqual(bucketOf("s", "1"), bucketOf("s", "1", ""));
});

test("arms take the configured shares, and a customer's arm does not change", () => {
  const split = { control: 0.1, variants: { a: 1, b: 1, c: 2 } };
  const counts = new Map<string, number>();
  for (const id of IDS) {
    const r = assignArm(bucketOf("s", id, "welcome"), split);
    assert.ok(r.ok);
    counts.set(r.arm, (counts.get(r.arm) ?? 0) + 1);
    assert.equal(r.isControl, r.arm === "control");
  }
  const share = (arm: string) => (counts.get(arm) ?? 0) / IDS.length;
  // Binomial standard error at n = 100k is ≤ 0.0016; 0.006 is almost 4 of them.
  assert.ok(Math.abs(share("control") - 0.1) < 0.006);
  assert.ok(Math.abs(share("a") - 0.225) < 0.006);
  assert.ok(Math.abs(share("b") - 0.225) < 0.006);
  assert.ok(Math.abs(share("c") - 0.45) < 0.006);
  const plan = planArms(split);
  assert.ok(plan.ok);
  assert.deepEqual(
    plan.plan.bounds.map((b) => b.end),
    [1000, 3250, 5500, 10000],
  );
  assert.equal(armOfBucket(999, plan.plan), "control");
  assert.equal(armOfBucket(1000, plan.plan), "a");
  assert.equal(armOfBucket(9999, plan.plan), "c");
});

test("bad splits and buckets are refused with a reason", () => {
  const nine = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`v${i}`, 1]));
  assert.equal(assignArm(5, { control: 0.1, variants: nine }).ok, false);
  assert.equal(assignArm(5, { control: 1.5, variants: { a: 1 } }).ok, false);
  assert.equal(assignArm(5, { control: 0.1, variants: { a: 0 } }).ok, false);
  assert.equal(assignArm(5, { control: 0.1, variants: { control: 1 } }).ok, false);
  assert.equal(assignArm(10_000, { control: 0.1, variants: { a: 1 } }).ok, false);
  assert.equal(assignArm(Number.NaN, { control: 0.1, variants: { a: 1 } }).ok, false);
  const allControl = assignArm(9999, { control: 1, variants: {} });
  assert.ok(allControl.ok && allControl.isControl);
});

test("the global control group rotates its salt and keeps its history", () => {
  const jan = Date.UTC(2026, 0, 1);
  const jul = Date.UTC(2026, 6, 1);
  const periods: SaltPeriod[] = [
    { salt: "second", from: jul, fraction: 0.05 },
    { salt: "first", from: jan, fraction: 0.05 },
  ];
  const ids = IDS.slice(0, 20_000);
  const before = ids.filter((id) => inGlobalControl(id, periods, jul - 1));
  const after = ids.filter((id) => inGlobalControl(id, periods, jul));
  assert.ok(Math.abs(before.length / ids.length - 0.05) < 0.006);
  assert.ok(Math.abs(after.length / ids.length - 0.05) < 0.006);
  const stayed = before.filter((id) => after.includes(id)).length;
  assert.ok(stayed < before.length * 0.15, "a new salt draws a new group (about 5% overlap by chance)");
  assert.equal(ids.filter((id) => inGlobalControl(id, periods, jan - 1)).length, 0);
  // The past stays answerable: membership on a date in the first period does not depend on later rotations.
  const id = before[0] ?? "";
  assert.equal(inGlobalControl(id, periods, Date.UTC(2026, 2, 15)), true);
  const history = globalControlHistory(id, periods);
  assert.deepEqual(
    history.map((h) => [h.period.salt, h.until]),
    [
      ["first", jul],
      ["second", null],
    ],
  );
  assert.equal(history[0]?.inControl, true);
  // Global control buckets are independent of a scenario's buckets drawn with the same salt.
  assert.notEqual(bucketOf("first", id), bucketOf("first", id, "global-control"));
});
