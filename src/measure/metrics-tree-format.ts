// Number, money, share and period labels shared by the text and HTML metrics tree, so both say the same thing.
const DAY = 86_400_000;

export function count(n: number): string {
  return n.toLocaleString("en-US", { maximumFractionDigits: 0 });
}

export function decimal(n: number | null, digits = 2): string {
  if (n === null || !Number.isFinite(n)) return "—";
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function money(n: number | null, currency: string | null): string {
  if (n === null || !Number.isFinite(n)) return "—";
  return currency ? `${decimal(n)} ${currency}` : decimal(n);
}

export function share(f: number | null, digits = 1): string {
  if (f === null || !Number.isFinite(f)) return "—";
  return `${(f * 100).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })}%`;
}

/** "2026-10-01 – 2026-10-31" when the period is whole UTC days (its end is exclusive), else both instants. */
export function periodLabel(period: { from: string; to: string }): string {
  const from = new Date(period.from);
  const to = new Date(period.to);
  const midnight = (d: Date) => d.getTime() % DAY === 0;
  if (midnight(from) && midnight(to)) {
    const last = new Date(to.getTime() - DAY);
    return `${from.toISOString().slice(0, 10)} – ${last.toISOString().slice(0, 10)}`;
  }
  const short = (d: Date) =>
    d
      .toISOString()
      .replace("T", " ")
      .replace(/:\d\d\.\d{3}Z$/, " UTC");
  return `${short(from)} – ${short(to)}`;
}

export function stageLabel(s: string | null, none: string): string {
  return s === null ? none : s.replace(/_/g, " ");
}

export const VERDICT_LABEL = {
  met: "met",
  not_met: "not met",
  not_enough_data: "not enough data",
} as const;

/** A goal's target or actual as its kind reads: a rate as a share, revenue per customer as money. */
export function goalValue(
  kind: "conversion_rate" | "revenue_per_customer",
  v: number | null,
  currency: string | null,
): string {
  return kind === "conversion_rate" ? share(v) : money(v, currency);
}

/** A number with its sign, so a gain and a loss read apart: "+12.00", "−3.50". */
export function signed(n: number | null, f: (x: number) => string): string {
  if (n === null || !Number.isFinite(n)) return "—";
  return n > 0 ? `+${f(n)}` : n < 0 ? `−${f(-n)}` : f(0);
}

/** "+1,200.00 EUR (95% CI −300.00 … +2,700.00)" */
export function estimateLabel(
  e: { estimate: number; ci: { lower: number; upper: number } } | null,
  f: (x: number) => string,
  unit = "",
): string {
  if (!e) return "—";
  const u = unit ? ` ${unit}` : "";
  return `${signed(e.estimate, f)}${u} (95% CI ${signed(e.ci.lower, f)} … ${signed(e.ci.upper, f)})`;
}

/** A difference of two rates in percentage points. */
export const points = (x: number) => `${decimal(x * 100, 1)} pp`;
