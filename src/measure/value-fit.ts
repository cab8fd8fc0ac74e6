// Fitting customer value on a workspace's own orders: RFM scores over the window before the calibration end, then
// BG/NBD (purchase counts) and Gamma-Gamma (spend) by maximum likelihood, then per customer the expected purchases
// and value over the horizon, the probability of being alive, predicted CLV and its percentile. Too little data
// for a stable fit falls back to RFM only, with the reason stored. Orders after the calibration end, if any, are a
// holdout: the model's prediction for them is reported beside the actual count.
import {
  type BgNbdParams,
  type CustomerSummary,
  conditionalExpectedPurchases,
  DEFAULT_RFM_WINDOW_DAYS,
  fitBgNbd,
  fitGammaGamma,
  frequencySpendCorrelation,
  type GammaGammaParams,
  percentileRanks,
  predictCustomerValue,
  probabilityAlive,
  type RfmScore,
  rfmScores,
  summarizeTransactions,
} from "../core/value/index.ts";
import {
  type CustomerValueRow,
  loadOrderEvents,
  type OrderEvent,
  saveValueModel,
  type ValueModelRecord,
} from "../store/customer-value.ts";
import type { Db } from "../store/db.ts";
import { currentCurrency } from "../store/strategies.ts";
import { otherCurrenciesWarning } from "./currency-note.ts";

const DAY_MS = 86_400_000;
/** The models' time unit: weeks, as in the published CDNOW results. */
const UNIT_DAYS = 7;

export interface ValueFitOptions {
  /** end of the calibration period (its whole UTC day is included); default: now */
  calibrationEnd?: Date;
  /** prediction horizon in days, default 365 */
  horizonDays?: number;
  rfmWindowDays?: number;
  /** discount rate per year for CLV, default 0 */
  annualDiscountRate?: number;
  now: Date;
}

export interface HoldoutCheck {
  from: string;
  to: string;
  weeks: number;
  /** repeat purchases (distinct customer-days) of calibration customers after the calibration end */
  actual: number;
  predicted: number;
}

export interface ValueFitResult {
  modelId: string;
  status: ValueModelRecord["status"];
  reason: string | null;
  /** what the fit left out, and why (orders in another currency than the strategy's) */
  warnings: string[];
  calibration: { start: string | null; end: string; weeks: number | null };
  horizonDays: number;
  customers: number;
  repeatCustomers: number;
  /** repeat purchases (x summed over customers) in the calibration period */
  repeatPurchases: number;
  bgNbd: (BgNbdParams & { logLikelihood: number; iterations: number }) | null;
  gammaGamma:
    | (GammaGammaParams & {
        logLikelihood: number;
        iterations: number;
        customers: number;
        frequencySpendCorrelation: number;
      })
    | null;
  holdout: HoldoutCheck | null;
  rfm: { customers: number; windowDays: number; groups: Record<string, number> };
  seconds: number;
  /** seconds per step: reading the orders, summaries and RFM, each fit, predictions, writing */
  timings: Record<string, number>;
}

/** RFM over the window ending at the calibration end: days since last order, orders, revenue net of refunds. */
function rfmOf(orders: readonly OrderEvent[], endDay: number, windowDays: number): Map<string, RfmScore> {
  const from = endDay - windowDays + 1;
  const acc = new Map<string, { last: number; orders: number; revenue: number }>();
  for (const o of orders) {
    const day = Math.floor(o.at / DAY_MS);
    if (day < from || day > endDay) continue;
    let a = acc.get(o.customerId);
    if (!a) {
      a = { last: Number.NEGATIVE_INFINITY, orders: 0, revenue: 0 };
      acc.set(o.customerId, a);
    }
    if (o.refund) a.revenue -= o.amount;
    else {
      a.orders++;
      a.revenue += o.amount;
      a.last = Math.max(a.last, day);
    }
  }
  const inputs = [...acc]
    .filter(([, a]) => a.orders > 0)
    .map(([customerId, a]) => ({
      customerId,
      recencyDays: endDay - a.last,
      frequency: a.orders,
      monetary: a.revenue,
    }));
  const scored = rfmScores(inputs);
  return new Map(scored.ok ? scored.scores.map((s) => [s.customerId, s]) : []);
}

function holdoutCheck(
  orders: readonly OrderEvent[],
  customers: readonly CustomerSummary[],
  params: BgNbdParams,
  endDay: number,
): HoldoutCheck | null {
  const known = new Set(customers.map((c) => c.customerId));
  const days = new Set<string>();
  let lastDay = endDay;
  for (const o of orders) {
    const day = Math.floor(o.at / DAY_MS);
    if (o.refund || day <= endDay || !known.has(o.customerId)) continue;
    days.add(`${o.customerId}|${day}`);
    lastDay = Math.max(lastDay, day);
  }
  if (days.size === 0) return null;
  const weeks = (lastDay - endDay) / UNIT_DAYS;
  const predicted = customers.reduce((s, c) => s + conditionalExpectedPurchases(params, c, weeks), 0);
  return {
    from: new Date((endDay + 1) * DAY_MS).toISOString().slice(0, 10),
    to: new Date(lastDay * DAY_MS).toISOString().slice(0, 10),
    weeks,
    actual: days.size,
    predicted,
  };
}

export async function fitCustomerValue(
  db: Db,
  workspaceId: number,
  o: ValueFitOptions,
): Promise<ValueFitResult> {
  const started = performance.now();
  const calibrationEnd = o.calibrationEnd ?? o.now;
  const horizonDays = o.horizonDays ?? 365;
  const windowDays = o.rfmWindowDays ?? DEFAULT_RFM_WINDOW_DAYS;
  const endDay = Math.floor(calibrationEnd.getTime() / DAY_MS);
  const timings: Record<string, number> = {};
  let mark = started;
  const lap = (step: string) => {
    const at = performance.now();
    timings[step] = Math.round(at - mark) / 1000;
    mark = at;
  };
  const currency = await currentCurrency(db.pool, workspaceId);
  const [orders, other] = await Promise.all([
    loadOrderEvents(db, workspaceId, currency),
    currency ? otherCurrenciesWarning(db.pool, workspaceId, null, calibrationEnd, currency) : null,
  ]);
  lap("readOrders");
  // Refunds change RFM's money, not the count of purchases the models see (documented in the docs).
  const purchases = orders.filter((x) => !x.refund);
  const customers = summarizeTransactions(purchases, {
    periodEnd: calibrationEnd.getTime(),
    unitDays: UNIT_DAYS,
  });
  const rfm = rfmOf(orders, endDay, windowDays);
  const firstAt = purchases.reduce((m, x) => Math.min(x.at, m), Number.POSITIVE_INFINITY);

  let status: ValueModelRecord["status"] = "no_orders";
  let reason: string | null = "no orders (order_completed events) up to the calibration end";
  let bg: ValueFitResult["bgNbd"] = null;
  let gg: ValueFitResult["gammaGamma"] = null;
  if (customers.length > 0) {
    lap("summaries");
    const bgFit = fitBgNbd(customers);
    lap("bgNbd");
    if (!bgFit.ok) {
      status = "rfm_only";
      reason = `purchase model (BG/NBD) not fitted: ${bgFit.reason}; RFM scores only`;
    } else {
      bg = { ...bgFit.params, logLikelihood: bgFit.logLikelihood, iterations: bgFit.iterations };
      const ggFit = fitGammaGamma(customers);
      lap("gammaGamma");
      if (!ggFit.ok) {
        status = "partial";
        reason = `spend model (Gamma-Gamma) not fitted: ${ggFit.reason}; no predicted value`;
      } else {
        status = "fitted";
        reason = null;
        gg = {
          ...ggFit.params,
          logLikelihood: ggFit.logLikelihood,
          iterations: ggFit.iterations,
          customers: ggFit.customers,
          frequencySpendCorrelation: frequencySpendCorrelation(customers),
        };
      }
    }
  }
  const rows = customerRows(customers, rfm, bg, gg, horizonDays / UNIT_DAYS, o.annualDiscountRate ?? 0);
  const holdout = bg ? holdoutCheck(orders, customers, bg, endDay) : null;
  lap("predict");
  const repeatCustomers = customers.filter((c) => c.frequency > 0).length;
  const seconds = Math.round(performance.now() - started) / 1000;
  const record: ValueModelRecord = {
    workspaceId,
    fittedAt: o.now,
    calibrationStart: Number.isFinite(firstAt) ? new Date(firstAt) : null,
    calibrationEnd,
    horizonDays,
    status,
    reason,
    customers: customers.length,
    repeatCustomers,
    bgNbd: bg ? { ...bg } : null,
    gammaGamma: gg ? { ...gg } : null,
    logLikelihood: bg?.logLikelihood ?? null,
    holdout: holdout ? { ...holdout } : null,
    seconds,
  };
  const modelId = await saveValueModel(db, record, rows);
  lap("save");
  const groups: Record<string, number> = {};
  for (const s of rfm.values()) groups[s.group] = (groups[s.group] ?? 0) + 1;
  return {
    modelId,
    status,
    reason,
    calibration: {
      start: record.calibrationStart?.toISOString() ?? null,
      end: calibrationEnd.toISOString(),
      weeks: Number.isFinite(firstAt) ? (endDay - Math.floor(firstAt / DAY_MS)) / UNIT_DAYS : null,
    },
    horizonDays,
    customers: customers.length,
    repeatCustomers,
    repeatPurchases: customers.reduce((s, c) => s + c.frequency, 0),
    bgNbd: bg,
    gammaGamma: gg,
    holdout,
    rfm: { customers: rfm.size, windowDays, groups },
    seconds: Math.round(performance.now() - started) / 1000,
    timings,
    warnings: other ? [other] : [],
  };
}

/** A prediction that overflowed for an extreme customer is stored as unknown, never as NaN. */
const finite = (x: number | null | undefined): number | null =>
  x !== null && x !== undefined && Number.isFinite(x) ? x : null;

function customerRows(
  customers: readonly CustomerSummary[],
  rfm: ReadonlyMap<string, RfmScore>,
  bg: BgNbdParams | null,
  gg: GammaGammaParams | null,
  horizonWeeks: number,
  annualDiscountRate: number,
): CustomerValueRow[] {
  const rows = customers.map((c): CustomerValueRow => {
    const s = rfm.get(c.customerId);
    const value =
      bg && gg ? predictCustomerValue(bg, gg, c, { horizon: horizonWeeks, annualDiscountRate }) : null;
    const expectedPurchases = bg ? conditionalExpectedPurchases(bg, c, horizonWeeks) : null;
    return {
      customerId: c.customerId,
      rfm: s ? { r: s.r, f: s.f, m: s.m, code: s.code, group: s.group } : null,
      frequency: c.frequency,
      recencyWeeks: c.recency,
      ageWeeks: c.age,
      monetary: c.monetary,
      expectedPurchases: finite(expectedPurchases),
      expectedSpend: finite(value?.expectedAverageSpend),
      expectedValue: finite(
        value && expectedPurchases !== null ? expectedPurchases * value.expectedAverageSpend : null,
      ),
      pAlive: bg ? finite(probabilityAlive(bg, c)) : null,
      clv: finite(value?.clv),
      clvPercentile: null,
    };
  });
  if (bg && gg) {
    const pct = percentileRanks(rows.map((r) => r.clv ?? Number.NaN));
    rows.forEach((r, i) => {
      const p = pct[i];
      r.clvPercentile = p === undefined || Number.isNaN(p) ? null : p;
    });
  }
  return rows;
}
