// Predicted customer lifetime value over a horizon: expected purchases (BG/NBD) × expected spend (Gamma-Gamma),
// discounted period by period, and each customer's percentile of predicted value (anchors are the top 10%).
import { type BgNbdParams, conditionalExpectedPurchases } from "./bg-nbd.ts";
import type { CustomerSummary } from "./customer-summary.ts";
import { expectedAverageSpend, type GammaGammaParams } from "./gamma-gamma.ts";

export interface ClvOptions {
  /** horizon in the models' time unit, default 52 (a year of weeks) */
  horizon?: number;
  /** discount rate per year, e.g. 0.1 for 10%; default 0 */
  annualDiscountRate?: number;
  /** time units in a year, default 52 (weeks) */
  unitsPerYear?: number;
  /** discounting periods per year, default 12 (monthly, as the lifetimes library does) */
  periodsPerYear?: number;
}

export interface CustomerValue {
  expectedPurchases: number;
  expectedAverageSpend: number;
  clv: number;
}

type Customer = Pick<CustomerSummary, "frequency" | "recency" | "age" | "monetary">;

/**
 * Expected value over the horizon. The horizon is cut into discounting periods; the purchases expected in each are
 * valued at the expected spend and discounted to now at the end of their period.
 */
export function predictCustomerValue(
  purchase: BgNbdParams,
  spend: GammaGammaParams,
  customer: Customer,
  options: ClvOptions = {},
): CustomerValue {
  const horizon = options.horizon ?? 52;
  const unitsPerYear = options.unitsPerYear ?? 52;
  const rate = options.annualDiscountRate ?? 0;
  const averageSpend = expectedAverageSpend(spend, customer);
  const total = conditionalExpectedPurchases(purchase, customer, horizon);
  if (rate === 0)
    return { expectedPurchases: total, expectedAverageSpend: averageSpend, clv: total * averageSpend };
  const periodLength = unitsPerYear / (options.periodsPerYear ?? 12);
  let previous = 0;
  let clv = 0;
  for (let end = Math.min(periodLength, horizon); ; end = Math.min(end + periodLength, horizon)) {
    const cumulative = conditionalExpectedPurchases(purchase, customer, end);
    clv += ((cumulative - previous) * averageSpend) / (1 + rate) ** (end / unitsPerYear);
    previous = cumulative;
    if (end >= horizon) break;
  }
  return { expectedPurchases: total, expectedAverageSpend: averageSpend, clv };
}
