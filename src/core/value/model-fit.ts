// What the value-model fits share: the result shape, data thresholds and the check of per-customer summaries.

export type FitResult<P> =
  | { ok: true; params: P; logLikelihood: number; iterations: number; customers: number }
  | { ok: false; reason: string };

export interface FitOptions {
  /** refuse to fit on fewer customers (default 100 for BG/NBD; Gamma-Gamma counts repeat buyers, default 20) */
  minCustomers?: number;
  /** BG/NBD only: refuse with fewer customers who bought again (default 20) */
  minRepeatCustomers?: number;
  /** the optimiser's iteration budget per run (default 200 × parameters): a fit that needs more is refused */
  maxIterations?: number;
}

export interface RepeatSummary {
  frequency: number;
  recency: number;
  age: number;
}

/** Why a customer's summary cannot be used, or null. */
export function summaryProblem(c: RepeatSummary, index: number): string | null {
  const where = `customer #${index}`;
  if (!Number.isInteger(c.frequency) || c.frequency < 0)
    return `${where}: frequency must be a whole number ≥ 0`;
  if (!Number.isFinite(c.recency) || c.recency < 0) return `${where}: recency must be a finite number ≥ 0`;
  if (!Number.isFinite(c.age) || c.age < c.recency) return `${where}: age must be finite and ≥ recency`;
  if (c.frequency === 0 && c.recency !== 0)
    return `${where}: recency must be 0 when there is no repeat purchase`;
  return null;
}

/** Log-parameters beyond this mean the likelihood has no finite maximum on the data (a degenerate fit). */
export const LOG_PARAM_LIMIT = 18;

export function diverged(logParams: readonly number[]): boolean {
  return logParams.some((v) => !Number.isFinite(v) || Math.abs(v) > LOG_PARAM_LIMIT);
}
