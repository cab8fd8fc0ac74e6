// The experiment report as text for a terminal: a table of arms, then each treatment arm against the control.
import type { Comparison, EffectOrReason, ExperimentReport } from "./experiment-report.ts";

const pct = (x: number | null, digits = 4) => (x === null ? "—" : `${(x * 100).toFixed(digits)}%`);
const money = (x: number | null, digits = 6) => (x === null ? "—" : x.toFixed(digits));
const signed = (x: number, f: (v: number) => string) => `${x >= 0 ? "+" : "−"}${f(Math.abs(x))}`;
const count = (x: number) => x.toLocaleString("en");

function pValue(p: number): string {
  return p < 1e-4 ? p.toExponential(2) : p.toFixed(4);
}

function effectLine(label: string, e: EffectOrReason | null, unit: "rate" | "money"): string[] {
  if (!e) return [];
  if ("error" in e) return [`  ${label.padEnd(22)} cannot be computed: ${e.error}`];
  const f = unit === "rate" ? (v: number) => pct(v, 4).replace("%", " pp") : (v: number) => money(v);
  const abs = (v: number) => (unit === "rate" ? `${(v * 100).toFixed(4)} pp` : f(v));
  const rel = e.relativeDifference === null ? "" : `, ${signed(e.relativeDifference, (v) => pct(v, 1))}`;
  const relCi = e.relativeCi ? ` [${pct(e.relativeCi.lower, 1)}, ${pct(e.relativeCi.upper, 1)}]` : "";
  const stat = e.degreesOfFreedom === null ? "z" : `t(${e.degreesOfFreedom.toFixed(0)})`;
  return [
    `  ${label.padEnd(22)} ${signed(e.difference, abs)}${rel}  95% CI [${f(e.ci.lower)}, ${f(e.ci.upper)}]${relCi}` +
      `  ${stat} = ${e.statistic.toFixed(4)}, p = ${pValue(e.pValue)}`,
  ];
}

function comparisonLines(c: Comparison): string[] {
  const lines = [`${c.arm} vs ${c.against}:`];
  lines.push(...effectLine("visit rate", c.visit, "rate"));
  lines.push(...effectLine("conversion rate", c.conversion, "rate"));
  lines.push(...effectLine("spend/customer (Welch)", c.spend, "money"));
  lines.push(...effectLine("spend/customer (pooled)", c.spendPooled, "money"));
  const b = c.spendBootstrap;
  if (b && "error" in b) lines.push(`  spend bootstrap        cannot be computed: ${b.error}`);
  else if (b) {
    lines.push(
      `  spend bootstrap        95% CI [${money(b.ci.lower)}, ${money(b.ci.upper)}] (${count(b.resamples)} resamples, seed ${b.seed})`,
    );
  }
  if (c.incrementalConversions) {
    const i = c.incrementalConversions;
    lines.push(
      `  incremental conversions ${signed(i.estimate, (v) => v.toFixed(1))}  95% CI [${i.ci.lower.toFixed(1)}, ${i.ci.upper.toFixed(1)}]`,
    );
  }
  if (c.incrementalSpend) {
    const i = c.incrementalSpend;
    lines.push(
      `  incremental spend      ${signed(i.estimate, (v) => v.toFixed(2))}  95% CI [${i.ci.lower.toFixed(2)}, ${i.ci.upper.toFixed(2)}]`,
    );
  }
  for (const w of c.warnings) lines.push(`  warning: ${w}`);
  return lines;
}

export function formatExperimentReport(r: ExperimentReport): string {
  const lines = [
    `Experiment ${r.experiment}: ${count(r.customers)} customers, control arm '${r.controlArm}'` +
      (r.startedAt ? `, started ${r.startedAt.slice(0, 10)}` : ""),
    "",
  ];
  const width = Math.max(4, ...r.arms.map((a) => a.arm.length + (a.control ? 10 : 0)));
  lines.push(
    `${"arm".padEnd(width)}  ${"customers".padStart(10)}  ${"visit rate".padStart(10)}  ${"conversion".padStart(10)}  ${"spend/customer".padStart(14)}`,
  );
  for (const a of r.arms) {
    const name = a.control ? `${a.arm} (control)` : a.arm;
    lines.push(
      `${name.padEnd(width)}  ${count(a.customers).padStart(10)}  ${pct(a.visitRate).padStart(10)}  ${pct(a.conversionRate).padStart(10)}  ${money(a.spendPerCustomer).padStart(14)}`,
    );
  }
  for (const c of r.comparisons) lines.push("", ...comparisonLines(c));
  for (const w of r.warnings) lines.push("", `warning: ${w}`);
  return `${lines.join("\n")}\n`;
}
