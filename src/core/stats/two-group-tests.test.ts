// z-test, Welch's t-test, bootstrap and power against published results (Hillstrom's e-mail experiment, Yasui 2020)
// and values computed independently with scipy.stats 1.17; and the bad or degenerate data a workspace can have.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { bootstrapMeanDifference } from "./bootstrap.ts";
import { sampleSizeForMeans, sampleSizeForProportions } from "./power.ts";
import { twoProportionZTest } from "./proportion-test.ts";
import { seededRandom } from "./seeded-random.ts";
import { summarizeSample, summaryFromTotals, welchTTest } from "./welch-test.ts";

const HILLSTROM = new URL("../../../../shared/data/hillstrom.csv", import.meta.url);

function near(actual: number, expected: number, tolerance: number, what = ""): void {
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${what} ${actual} is not within ${tolerance} of ${expected}`,
  );
}

function hillstromSpend(): Map<string, { spend: number[]; conversions: number }> {
  const lines = readFileSync(HILLSTROM, "utf8").trim().split(/\r?\n/);
  // Only the last columns are read, counted from the end: an earlier one ("$1,000 +") holds a quoted comma.
  const header = (lines[0] ?? "").split(",");
  const fromEnd = (name: string) => header.length - header.indexOf(name);
  const seg = fromEnd("segment");
  const spend = fromEnd("spend");
  const conv = fromEnd("conversion");
  const arms = new Map<string, { spend: number[]; conversions: number }>();
  for (const line of lines.slice(1)) {
    const cells = line.split(",");
    const name = cells[cells.length - seg] ?? "";
    const arm = arms.get(name) ?? { spend: [], conversions: 0 };
    arm.spend.push(Number(cells[cells.length - spend]));
    arm.conversions += Number(cells[cells.length - conv]);
    arms.set(name, arm);
  }
  return arms;
}

test("Hillstrom: spend uplift of the e-mails reproduces the published t statistics", {
  skip: !existsSync(HILLSTROM) && "data set absent",
}, () => {
  const arms = hillstromSpend();
  const control = summarizeSample(arms.get("No E-Mail")?.spend ?? []);
  const mens = summarizeSample(arms.get("Mens E-Mail")?.spend ?? []);
  const womens = summarizeSample(arms.get("Womens E-Mail")?.spend ?? []);
  assert.ok(control.ok && mens.ok && womens.ok);
  assert.equal(control.n, 21306);
  const pooled = welchTTest(control, mens, { equalVariance: true });
  assert.ok(pooled.ok);
  near(pooled.difference, 0.769827, 1e-6, "Mens uplift"); // published +$0.769827
  near(pooled.statistic, 5.3001, 1e-4, "pooled t"); // published t = 5.3001
  near(pooled.pValue, 1.2e-7, 0.05e-7, "p"); // published p ≈ 1.2e-07
  const womensPooled = welchTTest(control, womens, { equalVariance: true });
  assert.ok(womensPooled.ok);
  near(womensPooled.statistic, 3.2548, 1e-4, "Womens t"); // published t = 3.2548
  // Welch on the same data (scipy: t = 5.300140, df = 36671.16, 95% CI 0.485140 .. 1.054515)
  const welch = welchTTest(control, mens);
  assert.ok(welch.ok);
  near(welch.statistic, 5.300140358, 1e-6, "Welch t");
  near(welch.degreesOfFreedom, 36671.158, 1e-2, "Welch df");
  near(welch.ci.lower, 0.4851397326, 1e-7, "CI lower");
  near(welch.ci.upper, 1.0545145792, 1e-7, "CI upper");
  assert.equal(welch.power.underpowered, false);
  // Conversions, Mens 267/21,307 vs No E-Mail 122/21,306: z = 7.3851, p = 1.523e-13 (pooled SE, hand/scipy)
  const z = twoProportionZTest(
    { n: 21306, conversions: arms.get("No E-Mail")?.conversions ?? 0 },
    { n: 21307, conversions: arms.get("Mens E-Mail")?.conversions ?? 0 },
  );
  assert.ok(z.ok);
  near(z.statistic, 7.385114410925771, 1e-9, "z");
  near(z.pValue, 1.5232235005955427e-13, 1e-17, "p");
  near(z.ci.lower, 0.005000171380452313, 1e-12, "CI lower");
  near(z.ci.upper, 0.008609841658779076, 1e-12, "CI upper");
  near(z.relativeDifference ?? 0, 267 / 21307 / (122 / 21306) - 1, 1e-12, "relative");
});

test("Welch's t-test on a small textbook sample (scipy: t = 2.455356, df = 24.9885, p = 0.021378)", () => {
  const a = summarizeSample([
    27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4,
  ]);
  const b = summarizeSample([
    27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4,
  ]);
  assert.ok(a.ok && b.ok);
  const r = welchTTest(a, b);
  assert.ok(r.ok);
  near(r.statistic, 2.455356398286006, 1e-9, "t");
  near(r.degreesOfFreedom, 24.988529290231416, 1e-9, "df");
  near(r.pValue, 0.021378001462866992, 1e-9, "p");
  near(r.ci.lower, 0.3492370661924069, 1e-8, "lower");
  near(r.ci.upper, 3.984096267140929, 1e-8, "upper");
  const student = welchTTest(a, b, { equalVariance: true });
  assert.ok(student.ok);
  near(student.pValue, 0.020544522734125926, 1e-9, "Student p");
  // Totals from SQL give the same summary as the raw values.
  const values = [3, 0, 0, 12.5, 7];
  const fromTotals = summaryFromTotals({
    n: 5,
    sum: 22.5,
    sumSquares: values.reduce((s, v) => s + v * v, 0),
  });
  const direct = summarizeSample(values);
  assert.ok(fromTotals.ok && direct.ok);
  near(fromTotals.variance, direct.variance, 1e-12, "variance");
});

test("bad data is answered with a reason, never a throw or a NaN", () => {
  const empty = twoProportionZTest({ n: 0, conversions: 0 }, { n: 10, conversions: 1 });
  assert.equal(empty.ok, false);
  assert.match(empty.ok ? "" : empty.reason, /empty/);
  const tooMany = twoProportionZTest({ n: 10, conversions: 11 }, { n: 10, conversions: 1 });
  assert.match(tooMany.ok ? "" : tooMany.reason, /exceeds/);
  const nan = twoProportionZTest({ n: Number.NaN, conversions: 0 }, { n: 10, conversions: 1 });
  assert.match(nan.ok ? "" : nan.reason, /finite/);
  const inf = summarizeSample([1, 2, Number.POSITIVE_INFINITY]);
  assert.match(inf.ok ? "" : inf.reason, /value #2/);
  const one = welchTTest({ n: 1, mean: 5, variance: 0 }, { n: 10, mean: 4, variance: 1 });
  assert.match(one.ok ? "" : one.reason, /at least 2/);
  const badConfidence = welchTTest(
    { n: 5, mean: 5, variance: 1 },
    { n: 10, mean: 4, variance: 1 },
    { confidence: 1.2 },
  );
  assert.equal(badConfidence.ok, false);
  const boot = bootstrapMeanDifference([1], [1, 2], { random: seededRandom(1) });
  assert.equal(boot.ok, false);
  const bootNan = bootstrapMeanDifference([1, Number.NaN], [1, 2], { random: seededRandom(1) });
  assert.match(bootNan.ok ? "" : bootNan.reason, /control value #1/);
});

test("degenerate but valid data: all-zero revenue, identical groups, no conversions, negative refunds", () => {
  const zeros = welchTTest({ n: 100, mean: 0, variance: 0 }, { n: 80, mean: 0, variance: 0 });
  assert.ok(zeros.ok);
  assert.equal(zeros.difference, 0);
  assert.equal(zeros.pValue, 1);
  assert.equal(zeros.relativeDifference, null); // no relative change from a zero control
  const constantButDifferent = welchTTest({ n: 10, mean: 1, variance: 0 }, { n: 10, mean: 2, variance: 0 });
  assert.equal(constantButDifferent.ok, false);
  const none = twoProportionZTest({ n: 500, conversions: 0 }, { n: 500, conversions: 0 });
  assert.ok(none.ok);
  assert.equal(none.pValue, 1);
  assert.equal(none.relativeDifference, null);
  const all = twoProportionZTest({ n: 50, conversions: 50 }, { n: 40, conversions: 40 });
  assert.ok(all.ok && all.pValue === 1);
  const same = summarizeSample([5, -3, 10, 0, 2.5, -1]);
  assert.ok(same.ok);
  const identical = welchTTest(same, same);
  assert.ok(identical.ok);
  assert.equal(identical.statistic, 0);
  assert.equal(identical.pValue, 1);
  assert.ok(identical.ci.lower < 0 && identical.ci.upper > 0);
  assert.ok(identical.power.underpowered, "no size of group detects an effect of exactly zero");
  const refunds = bootstrapMeanDifference([-5, -2, 0, 1], [-1, 0, 3, 4], {
    random: seededRandom(3),
    resamples: 500,
  });
  assert.ok(refunds.ok);
  near(refunds.difference, 3, 1e-12, "difference of means with negative values");
});

test("power: small groups get the warning, large ones with the same effect do not", () => {
  const small = twoProportionZTest({ n: 200, conversions: 20 }, { n: 200, conversions: 26 });
  assert.ok(small.ok);
  assert.ok(small.power.underpowered);
  assert.match(small.power.warning ?? "", /groups too small to detect the observed effect at 80% power/);
  const large = twoProportionZTest({ n: 20000, conversions: 2000 }, { n: 20000, conversions: 2600 });
  assert.ok(large.ok && !large.power.underpowered && large.power.warning === null);
  // MDE at 80% power is (1.959964 + 0.841621) × SE = 2.801585 × SE
  near(small.power.minimumDetectableEffect, 2.8015852 * small.standardError, 1e-6, "MDE");
  // Classic planning figure: 10% → 12% needs 3,841 per group (two-sided 5%, 80% power, pooled-variance formula)
  assert.equal(sampleSizeForProportions(0.1, 0.02), 3841);
  // 2σ²(z.975 + z.8)²/δ² with σ = δ: 15.7 → 16 per group
  assert.equal(sampleSizeForMeans(1, 1), 16);
});

test("bootstrap: seeded, reproducible, and close to the t-interval on well-behaved data", () => {
  const random = seededRandom(11);
  const control = Array.from({ length: 400 }, () => random.next() * 10);
  const treatment = Array.from({ length: 400 }, () => 1 + random.next() * 10);
  const a = bootstrapMeanDifference(control, treatment, { random: seededRandom(5) });
  const b = bootstrapMeanDifference(control, treatment, { random: seededRandom(5) });
  assert.deepEqual(a, b);
  const c = summarizeSample(control);
  const t = summarizeSample(treatment);
  assert.ok(a.ok && c.ok && t.ok);
  const welch = welchTTest(c, t);
  assert.ok(welch.ok);
  near(a.ci.lower, welch.ci.lower, 0.1, "lower");
  near(a.ci.upper, welch.ci.upper, 0.1, "upper");
  near(a.standardError, welch.standardError, 0.03, "se");
  assert.ok(a.ci.lower < a.difference && a.difference < a.ci.upper);
});
