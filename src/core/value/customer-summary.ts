// Per-customer summaries the value models are fitted on, built from transactions the way Fader, Hardie & Lee and
// the lifetimes library do: purchases on the same (UTC) day are one purchase; `frequency` counts repeat purchase
// days, `recency` is the time from the first to the last purchase, `age` (T) from the first purchase to the end
// of the observation period, `monetary` the mean value of the repeat purchases (the first is excluded).

export interface Transaction {
  customerId: string;
  /** epoch milliseconds */
  at: number;
  amount: number;
}

export interface CustomerSummary {
  customerId: string;
  /** x: repeat purchases (distinct purchase days − 1) */
  frequency: number;
  /** t_x: time of the last purchase since the first, in `unitDays` units */
  recency: number;
  /** T: time from the first purchase to the end of the period */
  age: number;
  /** mean value of the repeat purchases; 0 when there are none */
  monetary: number;
}

export interface SummaryOptions {
  /** end of the observation period (epoch ms); purchases on later days are ignored */
  periodEnd: number;
  /** length of a time unit in days, default 7 (weeks, as in the published CDNOW results) */
  unitDays?: number;
}

const DAY_MS = 86_400_000;

/** Summaries in order of first appearance; transactions with a non-finite time or amount are skipped. */
export function summarizeTransactions(
  transactions: Iterable<Transaction>,
  options: SummaryOptions,
): CustomerSummary[] {
  const unit = options.unitDays ?? 7;
  const endDay = Math.floor(options.periodEnd / DAY_MS);
  const days = new Map<string, Map<number, number>>();
  for (const t of transactions) {
    if (!Number.isFinite(t.at) || !Number.isFinite(t.amount)) continue;
    const day = Math.floor(t.at / DAY_MS);
    if (day > endDay) continue;
    let byDay = days.get(t.customerId);
    if (!byDay) {
      byDay = new Map();
      days.set(t.customerId, byDay);
    }
    byDay.set(day, (byDay.get(day) ?? 0) + t.amount);
  }
  const out: CustomerSummary[] = [];
  for (const [customerId, byDay] of days) {
    const ordered = [...byDay.keys()].sort((a, b) => a - b);
    const first = ordered[0] ?? endDay;
    const last = ordered[ordered.length - 1] ?? first;
    let repeatSpend = 0;
    for (const day of ordered.slice(1)) repeatSpend += byDay.get(day) ?? 0;
    const frequency = ordered.length - 1;
    out.push({
      customerId,
      frequency,
      recency: (last - first) / unit,
      age: (endDay - first) / unit,
      monetary: frequency > 0 ? repeatSpend / frequency : 0,
    });
  }
  return out;
}
