// BG/NBD purchase model (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive, a customer
// buys at a Poisson rate λ ~ Gamma(r, α); after each purchase they drop out with probability p ~ Beta(a, b).
// Fitted by maximum likelihood on (x, t_x, T) summaries; gives expected purchases and the probability of being alive.
import { logGamma } from "../stats/special-functions.ts";
import { hyp2f1 } from "./hypergeometric.ts";
import {
  diverged,
  type FitOptions,
  type FitResult,
  type RepeatSummary,
  summaryProblem,
} from "./model-fit.ts";
import { minimizeWithRestarts } from "./nelder-mead.ts";

export interface BgNbdParams {
  r: number;
  alpha: number;
  a: number;
  b: number;
}

/**
 * The data arranged for a fast likelihood: customers with identical summaries are counted once with a weight, and
 * the logarithms of α + T and α + t_x are taken once per distinct value (summaries built from days repeat them a lot).
 */
interface Grouped {
  distinctT: Float64Array;
  distinctTx: Float64Array;
  /** distinct repeat counts, 0 first */
  distinctX: number[];
  /** customers without repeat purchases: weight per distinct T */
  zeroWeight: Float64Array;
  /** repeat buyers' groups */
  x: Float64Array;
  xIndex: Int32Array;
  tIndex: Int32Array;
  txIndex: Int32Array;
  weight: Float64Array;
}

function indexer(values: Iterable<number>): { distinct: Float64Array; position: Map<number, number> } {
  const distinct = Float64Array.from(new Set(values)).sort();
  return { distinct, position: new Map(Array.from(distinct, (v, i) => [v, i])) };
}

function group(customers: readonly RepeatSummary[]): Grouped {
  const T = indexer(customers.map((c) => c.age));
  const tx = indexer(customers.map((c) => c.recency));
  const distinctX = [0, ...new Set(customers.filter((c) => c.frequency > 0).map((c) => c.frequency))].sort(
    (p, q) => p - q,
  );
  const xPosition = new Map(distinctX.map((x, i) => [x, i]));
  const zeroWeight = new Float64Array(T.distinct.length);
  const rows = new Map<string, { x: number; t: number; tx: number; w: number }>();
  for (const c of customers) {
    const t = T.position.get(c.age) ?? 0;
    if (c.frequency === 0) {
      zeroWeight[t] = (zeroWeight[t] ?? 0) + 1;
      continue;
    }
    const key = `${c.frequency}|${c.recency}|${c.age}`;
    const row = rows.get(key);
    if (row) row.w++;
    else rows.set(key, { x: c.frequency, t, tx: tx.position.get(c.recency) ?? 0, w: 1 });
  }
  const list = [...rows.values()];
  return {
    distinctT: T.distinct,
    distinctTx: tx.distinct,
    distinctX,
    zeroWeight,
    x: Float64Array.from(list, (r) => r.x),
    xIndex: Int32Array.from(list, (r) => xPosition.get(r.x) ?? 0),
    tIndex: Int32Array.from(list, (r) => r.t),
    txIndex: Int32Array.from(list, (r) => r.tx),
    weight: Float64Array.from(list, (r) => r.w),
  };
}

/** log(1 + e^d) without overflow. */
function softplus(d: number): number {
  return d > 0 ? d + Math.log1p(Math.exp(-d)) : Math.log1p(Math.exp(d));
}

function groupedLogLikelihood({ r, alpha, a, b }: BgNbdParams, g: Grouped): number {
  // The gamma-function terms depend only on x: computed once per distinct x.
  const base = r * Math.log(alpha) + logGamma(a + b) - logGamma(b) - logGamma(r);
  const byX = g.distinctX.map((x) => base + logGamma(r + x) + logGamma(b + x) - logGamma(a + b + x));
  const dropTerm = g.distinctX.map((x) => (x > 0 ? Math.log(a) - Math.log(b + x - 1) : 0));
  const logAT = g.distinctT.map((T) => Math.log(alpha + T));
  const logATx = g.distinctTx.map((tx) => Math.log(alpha + tx));
  let total = 0;
  const zeroBase = byX[0] ?? 0;
  for (let t = 0; t < g.zeroWeight.length; t++) {
    const w = g.zeroWeight[t] ?? 0;
    if (w > 0) total += w * (zeroBase - r * (logAT[t] ?? 0));
  }
  for (let i = 0; i < g.x.length; i++) {
    const rx = r + (g.x[i] ?? 0);
    const k = g.xIndex[i] ?? 0;
    // log((α+T)^−(r+x) + a/(b+x−1)·(α+t_x)^−(r+x)) = alive + log(1 + e^(dropped − alive))
    const alive = -rx * (logAT[g.tIndex[i] ?? 0] ?? 0);
    const dropped = (dropTerm[k] ?? 0) - rx * (logATx[g.txIndex[i] ?? 0] ?? 0);
    total += (g.weight[i] ?? 0) * ((byX[k] ?? 0) + alive + softplus(dropped - alive));
  }
  return total;
}

/** Log-likelihood of the customers under the parameters (sum over customers). */
export function bgNbdLogLikelihood(params: BgNbdParams, customers: readonly RepeatSummary[]): number {
  return groupedLogLikelihood(params, group(customers));
}

function fromLog(theta: readonly number[]): BgNbdParams {
  const [r = 0, alpha = 0, a = 0, b = 0] = theta.map(Math.exp);
  return { r, alpha, a, b };
}

function checkData(customers: readonly RepeatSummary[], options: FitOptions): string | null {
  for (let i = 0; i < customers.length; i++) {
    const c = customers[i];
    const bad = c ? summaryProblem(c, i) : `customer #${i} is missing`;
    if (bad) return bad;
  }
  const minCustomers = options.minCustomers ?? 100;
  if (customers.length < minCustomers) {
    return `too little data: ${customers.length} customers, the fit needs at least ${minCustomers}`;
  }
  const repeaters = customers.filter((c) => c.frequency > 0).length;
  const minRepeat = options.minRepeatCustomers ?? 20;
  if (repeaters < minRepeat) {
    return `too little data: ${repeaters} customers bought again, the fit needs at least ${minRepeat}`;
  }
  if (!customers.some((c) => c.age > 0)) return "every customer's first purchase is at the end of the period";
  return null;
}

/** Maximum-likelihood BG/NBD parameters, or the reason the data cannot support a fit (callers fall back to RFM). */
export function fitBgNbd(
  customers: readonly RepeatSummary[],
  options: FitOptions = {},
): FitResult<BgNbdParams> {
  const bad = checkData(customers, options);
  if (bad) return { ok: false, reason: bad };
  const g = group(customers);
  const n = customers.length;
  const objective = (theta: readonly number[]) =>
    theta.some((v) => Math.abs(v) > 25)
      ? Number.POSITIVE_INFINITY
      : -groupedLogLikelihood(fromLog(theta), g) / n;
  const meanAge = customers.reduce((s, c) => s + c.age, 0) / n;
  const meanFrequency = customers.reduce((s, c) => s + c.frequency, 0) / n;
  const rate = Math.max(meanFrequency, 0.01) / Math.max(meanAge, 1e-6); // purchases per unit while alive, roughly
  const starts = [
    [0, Math.log(1 / rate), 0, 0],
    [Math.log(0.1), Math.log(0.1 / rate), Math.log(0.5), Math.log(3)],
    [Math.log(3), Math.log(3 / rate), Math.log(2), Math.log(5)],
  ];
  const best = minimizeWithRestarts(objective, starts, {
    valueTolerance: 1e-12,
    pointTolerance: 1e-7,
    ...(options.maxIterations ? { maxIterations: options.maxIterations } : {}),
  });
  if (!Number.isFinite(best.value))
    return { ok: false, reason: "the likelihood could not be evaluated on this data" };
  if (diverged(best.point)) return { ok: false, reason: "the likelihood has no finite maximum on this data" };
  if (!best.converged)
    return { ok: false, reason: `the optimiser did not converge in ${best.iterations} iterations` };
  return {
    ok: true,
    params: fromLog(best.point),
    logLikelihood: -best.value * n,
    iterations: best.iterations,
    customers: n,
  };
}

/** (a − 1) appears as a divisor; at exactly 1 the formulas have a removable singularity. */
function safeA(a: number): number {
  return Math.abs(a - 1) < 1e-9 ? 1 + 1e-9 : a;
}

/** Expected purchases of a new customer in (0, t]. */
export function expectedPurchases({ r, alpha, b, ...p }: BgNbdParams, t: number): number {
  const a = safeA(p.a);
  const z = t / (alpha + t);
  return ((a + b - 1) / (a - 1)) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z));
}

/** Probability the customer is still alive at the end of the observation period. */
export function probabilityAlive({ r, alpha, a, b }: BgNbdParams, c: RepeatSummary): number {
  if (c.frequency === 0) return 1;
  const x = c.frequency;
  const logRatio = Math.log(a / (b + x - 1)) + (r + x) * Math.log((alpha + c.age) / (alpha + c.recency));
  return 1 / (1 + Math.exp(logRatio));
}

/** Expected purchases in the next `t` time units of a customer with summary (x, t_x, T). */
export function conditionalExpectedPurchases(params: BgNbdParams, c: RepeatSummary, t: number): number {
  const { r, alpha, b } = params;
  const a = safeA(params.a);
  const x = c.frequency;
  const T = c.age;
  const z = t / (alpha + T + t);
  const decay = ((alpha + T) / (alpha + T + t)) ** (r + x);
  const numerator = ((a + b + x - 1) / (a - 1)) * (1 - decay * hyp2f1(r + x, b + x, a + b + x - 1, z));
  return numerator * probabilityAlive({ ...params, a }, c);
}
