// RFM scores: recency, frequency and monetary value each scored 1–5 by quintile among the customers who bought in
// the window (default 365 days), and a named group from recency and the mean of frequency and monetary scores.
import { percentileRanks } from "./percentile-rank.ts";

export const DEFAULT_RFM_WINDOW_DAYS = 365;

export interface RfmInput {
  customerId: string;
  /** days since the last order */
  recencyDays: number;
  /** orders within the window (≥ 1) */
  frequency: number;
  /** revenue within the window (refunds may make it negative) */
  monetary: number;
}

export type RfmGroup =
  | "champions"
  | "loyal"
  | "new"
  | "promising"
  | "need_attention"
  | "about_to_sleep"
  | "cant_lose"
  | "at_risk"
  | "hibernating"
  | "lost";

export interface RfmScore {
  customerId: string;
  r: number;
  f: number;
  m: number;
  /** "RFM" as three digits, e.g. "545" */
  code: string;
  group: RfmGroup;
}

export type RfmResult = { ok: true; scores: RfmScore[] } | { ok: false; reason: string };

/** Quintile score of a percentile: (0, 20] → 1 … (80, 100] → 5. */
function quintile(percentile: number): number {
  return Math.min(5, Math.max(1, Math.ceil(percentile / 20)));
}

/**
 * The named group, from R and FM = round((F + M) / 2), first match wins:
 * champions R≥4 FM≥4 · loyal R≥3 FM≥3 · new R=5 FM=1 · promising R≥4 FM≤2 · need_attention R=3 FM=2 ·
 * about_to_sleep R=3 FM=1 · cant_lose R≤2 FM=5 · at_risk R≤2 FM 3–4 · hibernating R=2 FM≤2 · lost R=1 FM≤2.
 */
export function rfmGroup(r: number, f: number, m: number): RfmGroup {
  const fm = Math.round((f + m) / 2);
  if (r >= 4 && fm >= 4) return "champions";
  if (r >= 3 && fm >= 3) return "loyal";
  if (r === 5 && fm === 1) return "new";
  if (r >= 4) return "promising";
  if (r === 3) return fm === 2 ? "need_attention" : "about_to_sleep";
  if (fm === 5) return "cant_lose";
  if (fm >= 3) return "at_risk";
  return r === 2 ? "hibernating" : "lost";
}

function problem(c: RfmInput, i: number): string | null {
  if (!Number.isFinite(c.recencyDays) || c.recencyDays < 0)
    return `customer #${i}: recencyDays must be a finite number ≥ 0`;
  if (!Number.isFinite(c.frequency) || c.frequency < 1)
    return `customer #${i}: frequency must be ≥ 1 (a buyer in the window)`;
  if (!Number.isFinite(c.monetary)) return `customer #${i}: monetary must be a finite number`;
  return null;
}

/**
 * Scores every customer. Ties share a score (mid-rank percentiles), so when most customers bought once, they all get
 * the same F — the honest answer — rather than being split arbitrarily.
 */
export function rfmScores(customers: readonly RfmInput[]): RfmResult {
  for (let i = 0; i < customers.length; i++) {
    const c = customers[i];
    const bad = c ? problem(c, i) : `customer #${i} is missing`;
    if (bad) return { ok: false, reason: bad };
  }
  // More recent is better: rank by negated days.
  const r = percentileRanks(customers.map((c) => -c.recencyDays));
  const f = percentileRanks(customers.map((c) => c.frequency));
  const m = percentileRanks(customers.map((c) => c.monetary));
  const scores = customers.map((c, i) => {
    const rs = quintile(r[i] ?? 0);
    const fs = quintile(f[i] ?? 0);
    const ms = quintile(m[i] ?? 0);
    return {
      customerId: c.customerId,
      r: rs,
      f: fs,
      m: ms,
      code: `${rs}${fs}${ms}`,
      group: rfmGroup(rs, fs, ms),
    };
  });
  return { ok: true, scores };
}
