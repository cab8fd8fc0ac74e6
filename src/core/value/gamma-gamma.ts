// Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"; after Colombo & Jiang 1999): each purchase's
// value is Gamma(p, ν) around the customer's mean, with ν ~ Gamma(q, γ) across customers. Fitted on repeat buyers'
// mean repeat spend; predicts a customer's expected average spend, shrunk towards the population mean.
import { logGamma } from "../stats/special-functions.ts";
import { diverged, type FitOptions, type FitResult } from "./model-fit.ts";
import { minimizeWithRestarts } from "./nelder-mead.ts";

export interface GammaGammaParams {
  p: number;
  q: number;
  gamma: number;
}

export interface SpendSummary {
  frequency: number;
  /** mean value of the repeat purchases */
  monetary: number;
}

function customerLogLikelihood({ p, q, gamma }: GammaGammaParams, x: number, m: number): number {
  const px = p * x;
  return (
    logGamma(px + q) -
    logGamma(px) -
    logGamma(q) +
    q * Math.log(gamma) +
    (px - 1) * Math.log(m) +
    px * Math.log(x) -
    (px + q) * Math.log(gamma + m * x)
  );
}

/**
 * The likelihood as a function of the parameters, arranged so one evaluation costs one logarithm per customer: the
 * gamma-function terms and Σ ln m are gathered per distinct repeat count x.
 */
function groupedSpendLikelihood(used: readonly SpendSummary[]): (params: GammaGammaParams) => number {
  const byX = new Map<number, { count: number; sumLogM: number }>();
  for (const c of used) {
    const entry = byX.get(c.frequency) ?? { count: 0, sumLogM: 0 };
    entry.count++;
    entry.sumLogM += Math.log(c.monetary);
    byX.set(c.frequency, entry);
  }
  const groups = [...byX.entries()];
  const xs = Float64Array.from(used, (c) => c.frequency);
  const mx = Float64Array.from(used, (c) => c.monetary * c.frequency);
  return ({ p, q, gamma }) => {
    let total = 0;
    for (const [x, { count, sumLogM }] of groups) {
      const px = p * x;
      total +=
        count * (logGamma(px + q) - logGamma(px) - logGamma(q) + q * Math.log(gamma) + px * Math.log(x));
      total += (px - 1) * sumLogM;
    }
    for (let i = 0; i < xs.length; i++) total -= (p * (xs[i] ?? 0) + q) * Math.log(gamma + (mx[i] ?? 0));
    return total;
  };
}

/** The customers the model is fitted on: repeat buyers with a positive mean spend. */
export function spendModelCustomers<T extends SpendSummary>(customers: readonly T[]): T[] {
  return customers.filter((c) => c.frequency > 0 && c.monetary > 0);
}

export function gammaGammaLogLikelihood(
  params: GammaGammaParams,
  customers: readonly SpendSummary[],
): number {
  let total = 0;
  for (const c of spendModelCustomers(customers))
    total += customerLogLikelihood(params, c.frequency, c.monetary);
  return total;
}

function checkData(customers: readonly SpendSummary[], options: FitOptions): string | null {
  for (let i = 0; i < customers.length; i++) {
    const c = customers[i];
    if (!c || !Number.isInteger(c.frequency) || c.frequency < 0)
      return `customer #${i}: frequency must be a whole number ≥ 0`;
    if (!Number.isFinite(c.monetary)) return `customer #${i}: monetary must be a finite number`;
  }
  const usable = spendModelCustomers(customers).length;
  const min = options.minCustomers ?? 20;
  if (usable < min)
    return `too little data: ${usable} repeat buyers with a positive spend, the fit needs at least ${min}`;
  return null;
}

/** Pearson correlation of frequency and mean spend: the model assumes they are independent; near 0 is good. */
export function frequencySpendCorrelation(customers: readonly SpendSummary[]): number {
  const used = spendModelCustomers(customers);
  const n = used.length;
  const mx = used.reduce((s, c) => s + c.frequency, 0) / n;
  const mm = used.reduce((s, c) => s + c.monetary, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (const c of used) {
    sxy += (c.frequency - mx) * (c.monetary - mm);
    sxx += (c.frequency - mx) ** 2;
    syy += (c.monetary - mm) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
}

/**
 * Maximum-likelihood Gamma-Gamma parameters over the repeat buyers (customers without repeat purchases or with
 * zero spend carry no information on spend and are left out), or the reason the fit is refused.
 */
export function fitGammaGamma(
  customers: readonly SpendSummary[],
  options: FitOptions = {},
): FitResult<GammaGammaParams> {
  const bad = checkData(customers, options);
  if (bad) return { ok: false, reason: bad };
  const used = spendModelCustomers(customers);
  const n = used.length;
  const likelihood = groupedSpendLikelihood(used);
  const objective = (theta: readonly number[]) => {
    if (theta.some((v) => Math.abs(v) > 25)) return Number.POSITIVE_INFINITY;
    const [p = 0, q = 0, gamma = 0] = theta.map(Math.exp);
    return -likelihood({ p, q, gamma }) / n;
  };
  const ms = used.map((c) => c.monetary);
  const meanSpend = ms.reduce((s, m) => s + m, 0) / n;
  const starts = [
    [0, 0, Math.log(meanSpend)],
    [Math.log(5), Math.log(3), Math.log(meanSpend * 2)],
    [Math.log(0.5), Math.log(10), Math.log(meanSpend * 10)],
  ];
  const best = minimizeWithRestarts(objective, starts, {
    valueTolerance: 1e-12,
    pointTolerance: 1e-7,
    ...(options.maxIterations ? { maxIterations: options.maxIterations } : {}),
  });
  if (!Number.isFinite(best.value))
    return { ok: false, reason: "the likelihood could not be evaluated on this data" };
  if (diverged(best.point)) {
    return {
      ok: false,
      reason: "the likelihood has no finite maximum (spend hardly varies between customers)",
    };
  }
  if (!best.converged)
    return { ok: false, reason: `the optimiser did not converge in ${best.iterations} iterations` };
  const [p = 0, q = 0, gamma = 0] = best.point.map(Math.exp);
  if (q <= 1)
    return { ok: false, reason: `fitted q = ${q.toFixed(3)} ≤ 1: the spend distribution has no finite mean` };
  return {
    ok: true,
    params: { p, q, gamma },
    logLikelihood: -best.value * n,
    iterations: best.iterations,
    customers: n,
  };
}

/**
 * Expected value of the customer's future purchases: a weighted mean of the population mean pγ/(q − 1) and the
 * customer's own mean spend, the weight growing with their number of repeat purchases.
 */
export function expectedAverageSpend({ p, q, gamma }: GammaGammaParams, c: SpendSummary): number {
  if (c.frequency === 0 || !(c.monetary > 0)) return (p * gamma) / (q - 1);
  return (p * (gamma + c.frequency * c.monetary)) / (p * c.frequency + q - 1);
}
