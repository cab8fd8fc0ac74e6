// The sequential test under continuous monitoring, by simulation: with no true effect, looking after every 100
// customers per arm up to 5,000 must declare a false winner in at most 5% of experiments, where a fixed-horizon
// z-test looked at the same points declares one far more often. Seeded, so the figures are the same on every run.
import assert from "node:assert/strict";
import { test } from "node:test";
import { twoProportionZTest } from "./proportion-test.ts";
import { type RandomSource, seededRandom } from "./seeded-random.ts";
import { type ArmTotals, sequentialTest } from "./sequential-test.ts";

const LOOK_EVERY = 100;
const MAX_PER_ARM = 5000;

/**
 * Sampling tolerance: a true false-winner rate of exactly 5% gives a simulated share with standard error
 * sqrt(0.05 · 0.95 / N); three standard errors above 5% is exceeded by chance with probability ≈ 0.1%.
 */
function upperBound(experiments: number): number {
  return 0.05 + 3 * Math.sqrt((0.05 * 0.95) / experiments);
}

interface Outcome {
  sequentialWinner: boolean;
  peekingWinner: boolean;
}

/** One experiment: `rates.length − 1` variants and a control; draw(arm) gives one customer's outcome. */
function runExperiment(arms: number, draw: (arm: number) => number, metric: "proportion" | "mean"): Outcome {
  const totals: ArmTotals[] = Array.from({ length: arms }, () => ({ n: 0, sum: 0, sumSquares: 0 }));
  let previous: Record<string, number> = {};
  let sequentialWinner = false;
  let peekingWinner = false;
  for (let n = 1; n <= MAX_PER_ARM; n++) {
    totals.forEach((t, arm) => {
      const y = draw(arm);
      t.n++;
      t.sum += y;
      t.sumSquares += y * y;
    });
    if (n % LOOK_EVERY !== 0) continue;
    const [control, ...rest] = totals;
    if (!control) break;
    const variants = Object.fromEntries(rest.map((t, i) => [`v${i + 1}`, { ...t }]));
    const look = sequentialTest({ ...control }, variants, { metric, previousPValues: previous });
    assert.ok(look.ok, look.ok ? "" : look.reason);
    previous = Object.fromEntries(look.arms.map((a) => [a.name, a.pValue]));
    if (look.arms.some((a) => a.decision !== "undecided")) sequentialWinner = true;
    const first = rest[0];
    if (metric === "proportion" && first) {
      const z = twoProportionZTest({ n, conversions: control.sum }, { n, conversions: first.sum });
      if (z.ok && z.pValue < 0.05) peekingWinner = true;
    }
    if (sequentialWinner && (peekingWinner || metric === "mean")) break;
  }
  return { sequentialWinner, peekingWinner };
}

function share(outcomes: Outcome[], key: keyof Outcome): number {
  return outcomes.filter((o) => o[key]).length / outcomes.length;
}

function bernoulli(random: RandomSource, rates: number[]): (arm: number) => number {
  return (arm) => (random.next() < (rates[arm] ?? 0) ? 1 : 0);
}

test("no true effect: the sequential test keeps false winners ≤ 5% while peeking at a z-test does not", (t) => {
  const random = seededRandom(2024);
  const experiments = 1000;
  const outcomes = Array.from({ length: experiments }, () =>
    runExperiment(2, bernoulli(random, [0.1, 0.1]), "proportion"),
  );
  const sequential = share(outcomes, "sequentialWinner");
  const peeking = share(outcomes, "peekingWinner");
  t.diagnostic(`false winners: sequential ${sequential}, peeking z-test ${peeking}`);
  // Measured: sequential 3.0%, peeking 33.3% (50 looks at a 5% test: each look is another chance of a false alarm).
  // The run is seeded, so the share itself is held to the nominal 5%.
  assert.ok(sequential <= 0.05, `sequential false winners ${sequential}`);
  assert.ok(peeking > upperBound(experiments), `peeking false winners ${peeking}`);
  assert.ok(peeking > 4 * sequential);
});

test("no true effect among 4 variants, on heavy-tailed revenue: false winners stay ≤ 5%", (t) => {
  const random = seededRandom(77);
  const experiments = 300;
  // 8% buy; order value is exponential with mean 50: most customers bring 0, a few bring a lot.
  const revenue = () => (random.next() < 0.08 ? -50 * Math.log(1 - random.next()) : 0);
  const outcomes = Array.from({ length: experiments }, () => runExperiment(5, revenue, "mean"));
  const sequential = share(outcomes, "sequentialWinner");
  t.diagnostic(`false winners with 4 variants on revenue: ${sequential}`);
  // Measured: 1.3%. Seeded: the share itself is held to the nominal 5%.
  assert.ok(sequential <= 0.05, `sequential false winners ${sequential}`);
});

test("a true effect is found, and the winner is the better variant", (t) => {
  const random = seededRandom(9);
  const experiments = 200;
  const outcomes = Array.from({ length: experiments }, () =>
    runExperiment(2, bernoulli(random, [0.1, 0.13]), "proportion"),
  );
  t.diagnostic(`10% → 13% found in ${share(outcomes, "sequentialWinner")} of experiments`);
  assert.ok(share(outcomes, "sequentialWinner") > 0.7, `found in ${share(outcomes, "sequentialWinner")}`);
  const look = sequentialTest(
    { n: 4000, sum: 400, sumSquares: 400 },
    { a: { n: 4000, sum: 410, sumSquares: 410 }, b: { n: 4000, sum: 560, sumSquares: 560 } },
    { metric: "proportion" },
  );
  assert.ok(look.ok);
  assert.equal(look.winner, "b");
  assert.equal(look.alphaPerArm, 0.025);
  const b = look.arms.find((a) => a.name === "b");
  assert.ok(b && b.ci.lower > 0 && b.ci.lower < b.difference);
});

test("the always-valid p-value never rises, and bad input is a reason", () => {
  const first = sequentialTest(
    { n: 1000, sum: 100, sumSquares: 100 },
    { a: { n: 1000, sum: 140, sumSquares: 140 } },
    { metric: "proportion" },
  );
  assert.ok(first.ok);
  const p1 = first.arms[0]?.pValue ?? 1;
  const second = sequentialTest(
    { n: 2000, sum: 200, sumSquares: 200 },
    { a: { n: 2000, sum: 200, sumSquares: 200 } },
    { metric: "proportion", previousPValues: { a: p1 } },
  );
  assert.ok(second.ok);
  assert.equal(second.arms[0]?.pValue, p1);
  const tooMany = Object.fromEntries(
    Array.from({ length: 9 }, (_, i) => [`v${i}`, { n: 1, sum: 0, sumSquares: 0 }]),
  );
  assert.equal(sequentialTest({ n: 1, sum: 0, sumSquares: 0 }, tooMany, { metric: "mean" }).ok, false);
  const nan = sequentialTest(
    { n: 10, sum: Number.NaN, sumSquares: 0 },
    { a: { n: 10, sum: 1, sumSquares: 1 } },
    { metric: "mean" },
  );
  assert.match(nan.ok ? "" : nan.reason, /control.sum/);
  const empty = sequentialTest(
    { n: 0, sum: 0, sumSquares: 0 },
    { a: { n: 0, sum: 0, sumSquares: 0 } },
    { metric: "proportion" },
  );
  assert.ok(empty.ok && empty.arms[0]?.decision === "undecided" && empty.winner === null);
});
