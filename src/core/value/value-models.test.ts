// Value models on data with known answers: parameters recovered from customers simulated by the model itself,
// refusals below the data threshold, summaries, RFM groups, CLV and percentiles, and the optimiser.
import assert from "node:assert/strict";
import { test } from "node:test";
import { seededRandom } from "../stats/seeded-random.ts";
import {
  type BgNbdParams,
  bgNbdLogLikelihood,
  conditionalExpectedPurchases,
  expectedPurchases,
  fitBgNbd,
} from "./bg-nbd.ts";
import { simulateCustomer } from "./bg-nbd-simulation.ts";
import { predictCustomerValue } from "./clv.ts";
import { summarizeTransactions } from "./customer-summary.ts";
import { fitGammaGamma, gammaGammaLogLikelihood } from "./gamma-gamma.ts";
import type { RepeatSummary } from "./model-fit.ts";
import { minimizeWithRestarts, nelderMead } from "./nelder-mead.ts";
import { percentileRanks } from "./percentile-rank.ts";
import { rfmGroup, rfmScores } from "./rfm.ts";

const TRUTH: BgNbdParams = { r: 0.5, alpha: 6, a: 0.8, b: 3 };

/** Customers with first purchases spread over a year, summarised to whole days like real data. */
function simulated(count: number, seed: number): RepeatSummary[] {
  const random = seededRandom(seed);
  const day = 1 / 7;
  return Array.from({ length: count }, () => {
    const c = simulateCustomer(TRUTH, Math.round((1 + random.next() * 51) / day) * day, random);
    return { ...c, recency: Math.min(c.age, Math.round(c.recency / day) * day) };
  });
}

test("BG/NBD recovers the parameters of simulated customers and finds the likelihood's maximum", () => {
  const customers = simulated(20_000, 1);
  const fit = fitBgNbd(customers);
  assert.ok(fit.ok, fit.ok ? "" : fit.reason);
  // The maximum is at least as high as the likelihood at the true parameters.
  assert.ok(fit.logLikelihood >= bgNbdLogLikelihood(TRUTH, customers) - 1e-6);
  assert.ok(Math.abs(fit.logLikelihood - bgNbdLogLikelihood(fit.params, customers)) < 1e-6);
  for (const key of ["r", "alpha", "a", "b"] as const) {
    const share = Math.abs(fit.params[key] - TRUTH[key]) / TRUTH[key];
    assert.ok(share < 0.25, `${key}: fitted ${fit.params[key]}, true ${TRUTH[key]}`);
  }
  // Predicted and simulated purchase counts agree on average.
  const meanX = customers.reduce((s, c) => s + c.frequency, 0) / customers.length;
  const meanE = customers.reduce((s, c) => s + expectedPurchases(fit.params, c.age), 0) / customers.length;
  assert.ok(Math.abs(meanX - meanE) / meanX < 0.03, `${meanX} vs ${meanE}`);
});

test("fits are refused below the data threshold and on broken summaries, with a reason", () => {
  const few = fitBgNbd(simulated(50, 2));
  assert.match(few.ok ? "" : few.reason, /at least 100/);
  const oneTimers = fitBgNbd(Array.from({ length: 500 }, () => ({ frequency: 0, recency: 0, age: 20 })));
  assert.match(oneTimers.ok ? "" : oneTimers.reason, /bought again/);
  const sameDay = simulated(500, 3).map(() => ({ frequency: 0, recency: 0, age: 0 }));
  assert.equal(fitBgNbd(sameDay, { minRepeatCustomers: 0 }).ok, false);
  const broken = simulated(500, 4);
  broken[7] = { frequency: 2, recency: Number.NaN, age: 10 };
  const reason = fitBgNbd(broken);
  assert.match(reason.ok ? "" : reason.reason, /customer #7: recency/);
  const spendFew = fitGammaGamma([{ frequency: 1, monetary: 10 }]);
  assert.match(spendFew.ok ? "" : spendFew.reason, /at least 20/);
  const spendNaN = fitGammaGamma([{ frequency: 1, monetary: Number.NaN }]);
  assert.match(spendNaN.ok ? "" : spendNaN.reason, /customer #0: monetary/);
});

test("an optimiser that does not converge is a refusal with the reason, never a fit", () => {
  const bg = fitBgNbd(simulated(2000, 1), { maxIterations: 10 });
  assert.equal(bg.ok, false);
  assert.match(bg.ok ? "" : bg.reason, /^the optimiser did not converge in \d+ iterations$/);
  assert.ok(fitBgNbd(simulated(2000, 1)).ok, "the same data fits with the default budget");
  const random = seededRandom(5);
  const spends = Array.from({ length: 600 }, () => ({
    frequency: 1 + Math.floor(random.next() * 6),
    monetary: 5 + 60 * random.next() ** 2,
  }));
  const gg = fitGammaGamma(spends, { maxIterations: 10 });
  assert.equal(gg.ok, false);
  assert.match(gg.ok ? "" : gg.reason, /^the optimiser did not converge in \d+ iterations$/);
  assert.ok(fitGammaGamma(spends).ok, "the same data fits with the default budget");
});

test("Gamma-Gamma: zero spend is left out, identical spends are refused, varied spends fit", () => {
  const random = seededRandom(5);
  const customers = Array.from({ length: 600 }, () => {
    const frequency = 1 + Math.floor(random.next() * 6);
    return { frequency, monetary: frequency > 0 ? 5 + 60 * random.next() ** 2 : 0 };
  });
  const withZeros = [...customers, ...Array.from({ length: 50 }, () => ({ frequency: 3, monetary: 0 }))];
  const fit = fitGammaGamma(withZeros);
  assert.ok(fit.ok, fit.ok ? "" : fit.reason);
  assert.equal(fit.customers, 600);
  assert.ok(fit.logLikelihood >= gammaGammaLogLikelihood({ p: 2, q: 3, gamma: 20 }, customers));
  const flat = fitGammaGamma(
    Array.from({ length: 100 }, (_, i) => ({ frequency: 1 + (i % 4), monetary: 25 })),
  );
  assert.equal(flat.ok, false);
});

test("summaries merge same-day purchases and exclude the first purchase from the spend", () => {
  const day = (d: number, hour = 0) => Date.UTC(2024, 0, d, hour);
  const summaries = summarizeTransactions(
    [
      { customerId: "a", at: day(1, 9), amount: 10 },
      { customerId: "a", at: day(1, 18), amount: 5 }, // same day: one purchase of 15
      { customerId: "a", at: day(8), amount: 30 },
      { customerId: "a", at: day(15), amount: 50 },
      { customerId: "a", at: day(40), amount: 1000 }, // after the period
      { customerId: "b", at: day(29), amount: 0 },
      { customerId: "b", at: Number.NaN, amount: 7 },
    ],
    { periodEnd: day(29) },
  );
  assert.deepEqual(summaries, [
    { customerId: "a", frequency: 2, recency: 2, age: 4, monetary: 40 },
    { customerId: "b", frequency: 0, recency: 0, age: 0, monetary: 0 },
  ]);
});

test("CLV: spend × expected purchases, lowered by discounting, higher for active customers", () => {
  const purchase = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
  const spend = { p: 6.25, q: 3.74, gamma: 15.44 };
  const active = { frequency: 6, recency: 36, age: 38, monetary: 40 };
  const quiet = { frequency: 6, recency: 8, age: 38, monetary: 40 };
  const plain = predictCustomerValue(purchase, spend, active, { horizon: 52 });
  assert.ok(Math.abs(plain.clv - plain.expectedPurchases * plain.expectedAverageSpend) < 1e-9);
  assert.ok(Math.abs(plain.expectedPurchases - conditionalExpectedPurchases(purchase, active, 52)) < 1e-12);
  const discounted = predictCustomerValue(purchase, spend, active, { horizon: 52, annualDiscountRate: 0.2 });
  assert.ok(discounted.clv < plain.clv && discounted.clv > plain.clv / 1.2);
  assert.ok(predictCustomerValue(purchase, spend, quiet).clv < plain.clv / 2);
  const longer = predictCustomerValue(purchase, spend, active, { horizon: 104 });
  assert.ok(longer.clv > plain.clv);
  // A one-time buyer is valued at the population's mean spend pγ/(q − 1).
  const newcomer = predictCustomerValue(purchase, spend, { frequency: 0, recency: 0, age: 2, monetary: 0 });
  assert.ok(Math.abs(newcomer.expectedAverageSpend - (6.25 * 15.44) / 2.74) < 1e-9);
});

test("percentiles by mid-rank: ties share a percentile, the top decile is ≥ 90", () => {
  assert.deepEqual(percentileRanks([4, 1, 3, 2]), [87.5, 12.5, 62.5, 37.5]);
  assert.deepEqual(percentileRanks([5, 5, 1, 9]), [50, 50, 12.5, 87.5]);
  const values = Array.from({ length: 1000 }, (_, i) => i);
  assert.equal(percentileRanks(values).filter((p) => p >= 90).length, 100);
  assert.ok(Number.isNaN(percentileRanks([1, Number.NaN])[1]));
});

test("RFM: quintile scores and named groups", () => {
  const customers = Array.from({ length: 100 }, (_, i) => ({
    customerId: String(i),
    recencyDays: 100 - i, // higher i: more recent
    frequency: 1 + i,
    monetary: 10 * (1 + i),
  }));
  const r = rfmScores(customers);
  assert.ok(r.ok);
  for (const score of [1, 2, 3, 4, 5]) assert.equal(r.scores.filter((s) => s.r === score).length, 20);
  assert.deepEqual(r.scores[99], { customerId: "99", r: 5, f: 5, m: 5, code: "555", group: "champions" });
  assert.equal(r.scores[0]?.group, "lost");
  assert.equal(rfmGroup(1, 5, 5), "cant_lose");
  assert.equal(rfmGroup(2, 3, 4), "at_risk");
  assert.equal(rfmGroup(2, 1, 2), "hibernating");
  assert.equal(rfmGroup(5, 1, 1), "new");
  assert.equal(rfmGroup(3, 3, 3), "loyal");
  // Most customers bought once: they share one F score instead of being split arbitrarily.
  const ties = rfmScores(customers.map((c, i) => ({ ...c, frequency: i < 70 ? 1 : 2 })));
  assert.ok(ties.ok);
  assert.equal(new Set(ties.scores.slice(0, 70).map((s) => s.f)).size, 1);
  const bad = rfmScores([{ customerId: "x", recencyDays: Number.NaN, frequency: 1, monetary: 1 }]);
  assert.match(bad.ok ? "" : bad.reason, /recencyDays/);
  // Every R × FM cell has exactly one group.
  for (let rr = 1; rr <= 5; rr++) for (let f = 1; f <= 5; f++) assert.ok(rfmGroup(rr, f, f));
});

test("Nelder–Mead finds the Rosenbrock minimum and reports iterations", () => {
  const rosenbrock = ([x = 0, y = 0]: readonly number[]) => (1 - x) ** 2 + 100 * (y - x * x) ** 2;
  const one = nelderMead(rosenbrock, [-1.2, 1], { maxIterations: 5000 });
  assert.ok(one.converged);
  const best = minimizeWithRestarts(rosenbrock, [
    [-1.2, 1],
    [3, -2],
  ]);
  assert.ok(Math.abs((best.point[0] ?? 0) - 1) < 1e-4 && Math.abs((best.point[1] ?? 0) - 1) < 1e-4);
  assert.ok(best.iterations > 0);
  // NaN values (outside a model's domain) are treated as worse than any number.
  const withHole = nelderMead(([x = 0]) => (x < 0 ? Number.NaN : (x - 2) ** 2), [1]);
  assert.ok(Math.abs((withHole.point[0] ?? 0) - 2) < 1e-3);
});
