// Customer value as text for a terminal: what `tact value fit` found and what `tact value show` holds.
import type { StoredValueModel, ValueOverview } from "../store/customer-value.ts";
import type { ValueFitResult } from "./value-fit.ts";

const n = (x: number) => x.toLocaleString("en");
const num = (x: unknown, digits = 4) =>
  typeof x === "number" ? Number(x.toPrecision(digits)).toString() : "—";

function groups(g: Record<string, number>): string {
  const entries = Object.entries(g).sort((a, b) => b[1] - a[1]);
  return entries.map(([k, v]) => `${k} ${n(v)}`).join(", ") || "none";
}

export function formatValueFit(r: ValueFitResult): string {
  const lines = [
    `Value model ${r.modelId}: ${r.status}${r.reason ? ` — ${r.reason}` : ""}`,
    `  calibration      ${r.calibration.start?.slice(0, 10) ?? "—"} .. ${r.calibration.end.slice(0, 10)}` +
      (r.calibration.weeks !== null ? ` (${num(r.calibration.weeks)} weeks)` : ""),
    `  customers        ${n(r.customers)}, ${n(r.repeatCustomers)} bought again (${n(r.repeatPurchases)} repeat purchases)`,
  ];
  if (r.bgNbd) {
    const b = r.bgNbd;
    lines.push(
      `  BG/NBD           r ${num(b.r)}, alpha ${num(b.alpha)}, a ${num(b.a)}, b ${num(b.b)}; log-likelihood ${b.logLikelihood.toFixed(2)}`,
    );
  }
  if (r.gammaGamma) {
    const g = r.gammaGamma;
    lines.push(
      `  Gamma-Gamma      p ${num(g.p)}, q ${num(g.q)}, gamma ${num(g.gamma)} on ${n(g.customers)} repeat buyers` +
        ` (frequency–spend correlation ${num(g.frequencySpendCorrelation, 2)})`,
    );
  }
  if (r.holdout) {
    const h = r.holdout;
    const off = h.actual > 0 ? ` (${num((100 * (h.predicted - h.actual)) / h.actual, 3)}%)` : "";
    lines.push(
      `  holdout          ${h.from} .. ${h.to} (${num(h.weeks)} weeks): predicted ${h.predicted.toFixed(1)} repeat purchases, actual ${n(h.actual)}${off}`,
    );
  }
  lines.push(
    `  RFM              ${n(r.rfm.customers)} customers with orders in the last ${r.rfm.windowDays} days: ${groups(r.rfm.groups)}`,
  );
  lines.push(`  horizon          ${r.horizonDays} days; fitted in ${r.seconds.toFixed(2)} s`);
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  return lines.join("\n");
}

export function formatValueShow(m: StoredValueModel, o: ValueOverview): string {
  const lines = [
    `Value model ${m.modelId}: ${m.status}${m.reason ? ` — ${m.reason}` : ""}`,
    `  fitted           ${m.fittedAt.toISOString()} on orders up to ${m.calibrationEnd.toISOString().slice(0, 10)}, horizon ${m.horizonDays} days`,
    `  customers        ${n(m.customers)}, ${n(m.repeatCustomers)} bought again`,
  ];
  if (m.bgNbd) {
    const b = m.bgNbd;
    lines.push(`  BG/NBD           r ${num(b.r)}, alpha ${num(b.alpha)}, a ${num(b.a)}, b ${num(b.b)}`);
  }
  if (m.gammaGamma) {
    const g = m.gammaGamma;
    lines.push(`  Gamma-Gamma      p ${num(g.p)}, q ${num(g.q)}, gamma ${num(g.gamma)}`);
  }
  lines.push(`  RFM groups       ${groups(o.rfmGroups)}`);
  if (o.totalClv !== null) {
    lines.push(
      `  predicted value  ${o.totalClv.toFixed(2)} in total; ${n(o.anchors)} anchor customers (CLV percentile ≥ 90)`,
    );
  }
  if (m.bgNbd) lines.push(`  at risk          ${n(o.atRisk)} customers with p_alive < 0.3`);
  return lines.join("\n");
}
