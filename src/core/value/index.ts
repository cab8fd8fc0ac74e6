// Customer value: per-customer summaries, RFM scores and groups, BG/NBD + Gamma-Gamma fits, predicted CLV.
export {
  type BgNbdParams,
  bgNbdLogLikelihood,
  conditionalExpectedPurchases,
  expectedPurchases,
  fitBgNbd,
  probabilityAlive,
} from "./bg-nbd.ts";
export { randomGamma, simulateCustomer } from "./bg-nbd-simulation.ts";
export { type ClvOptions, type CustomerValue, predictCustomerValue } from "./clv.ts";
export {
  type CustomerSummary,
  type SummaryOptions,
  summarizeTransactions,
  type Transaction,
} from "./customer-summary.ts";
export {
  expectedAverageSpend,
  fitGammaGamma,
  frequencySpendCorrelation,
  type GammaGammaParams,
  gammaGammaLogLikelihood,
  type SpendSummary,
  spendModelCustomers,
} from "./gamma-gamma.ts";
export type { FitOptions, FitResult, RepeatSummary } from "./model-fit.ts";
export { percentileRanks } from "./percentile-rank.ts";
export {
  DEFAULT_RFM_WINDOW_DAYS,
  type RfmGroup,
  type RfmInput,
  type RfmResult,
  type RfmScore,
  rfmGroup,
  rfmScores,
} from "./rfm.ts";
