// The scenario effect report as text for a terminal: the whole strategy against the global control group, then
// each scenario (control, treatment, each variant), its experiment's sequential test and its pilot customers.
import type { EffectOrReason } from "./experiment-report.ts";
import type {
  EffectComparison,
  GroupFigures,
  ScenarioEffect,
  ScenarioEffectReport,
} from "./scenario-effect.ts";

const pct = (x: number | null, digits = 2) => (x === null ? "—" : `${(x * 100).toFixed(digits)}%`);
const money = (x: number | null) => (x === null ? "—" : x.toFixed(2));
const signed = (x: number, f: (v: number) => string) => `${x >= 0 ? "+" : "−"}${f(Math.abs(x))}`;
const count = (x: number) => x.toLocaleString("en");
const pValue = (p: number) => (p < 1e-4 ? p.toExponential(2) : p.toFixed(4));

function groupTable(groups: readonly GroupFigures[]): string[] {
  const width = Math.max(8, ...groups.map((g) => g.group.length));
  const lines = [
    `  ${"group".padEnd(width)}  ${"customers".padStart(10)}  ${"conversion".padStart(10)}  ${"revenue/cust".padStart(12)}  ${"sent".padStart(8)}  ${"cost".padStart(10)}`,
  ];
  for (const g of groups) {
    lines.push(
      `  ${g.group.padEnd(width)}  ${count(g.customers).padStart(10)}  ${pct(g.conversionRate).padStart(10)}  ${money(g.revenuePerCustomer).padStart(12)}  ${count(g.messagesSent).padStart(8)}  ${money(g.cost).padStart(10)}`,
    );
  }
  return lines;
}

function effectLine(label: string, e: EffectOrReason, unit: "rate" | "money"): string {
  if ("error" in e) return `    ${label.padEnd(16)} cannot be computed: ${e.error}`;
  const f = unit === "rate" ? (v: number) => `${(v * 100).toFixed(2)} pp` : (v: number) => v.toFixed(2);
  const rel = e.relativeDifference === null ? "" : ` (${signed(e.relativeDifference, (v) => pct(v, 1))})`;
  const stat = e.degreesOfFreedom === null ? "z" : `t(${e.degreesOfFreedom.toFixed(0)})`;
  return (
    `    ${label.padEnd(16)} ${signed(e.difference, f)}${rel}  95% CI [${f(e.ci.lower)}, ${f(e.ci.upper)}]` +
    `  ${stat} = ${e.statistic.toFixed(3)}, p = ${pValue(e.pValue)}`
  );
}

function comparisonLines(c: EffectComparison): string[] {
  const lines = [`  ${c.treatment} vs ${c.control}:`];
  lines.push(effectLine("conversion", c.conversion, "rate"));
  lines.push(effectLine("revenue/customer", c.revenue, "money"));
  const b = c.revenueBootstrap;
  if (b && "error" in b) lines.push(`    revenue bootstrap cannot be computed: ${b.error}`);
  else if (b)
    lines.push(
      `    revenue bootstrap 95% CI [${money(b.ci.lower)}, ${money(b.ci.upper)}] (${count(b.resamples)} resamples)`,
    );
  const i = c.incrementalConversions;
  if (i)
    lines.push(
      `    incremental conversions ${signed(i.estimate, (v) => v.toFixed(1))}  [${i.ci.lower.toFixed(1)}, ${i.ci.upper.toFixed(1)}]`,
    );
  const r = c.incrementalRevenue;
  if (r)
    lines.push(
      `    incremental revenue     ${signed(r.estimate, money)}  [${money(r.ci.lower)}, ${money(r.ci.upper)}]`,
    );
  lines.push(
    `    cost ${money(c.cost)}, ROMI ${c.romi ? `${pct(c.romi.estimate, 0)} [${pct(c.romi.ci.lower, 0)}, ${pct(c.romi.ci.upper, 0)}]` : "—"}`,
  );
  for (const w of c.warnings) lines.push(`    warning: ${w}`);
  return lines;
}

function scenarioLines(s: ScenarioEffect): string[] {
  const source =
    s.controlSource === "scenario"
      ? "its control arm"
      : s.controlSource === "global"
        ? "global control entrants"
        : "none";
  const lines = [
    `Scenario ${s.scenario}${s.mode === "pilot" ? " (pilot)" : ""}: goal ${s.goal} (${s.goalEvent} within ${s.windowDays} d), control: ${source}`,
    ...groupTable([s.control, s.treatment, ...s.variants.map((v) => v.figures)]),
  ];
  if (s.effect) lines.push(...comparisonLines(s.effect));
  for (const v of s.variants) if (v.effect) lines.push(...comparisonLines(v.effect));
  const x = s.experiment;
  if (x) {
    const d = x.decision;
    lines.push(
      d?.winner
        ? `  winner: ${d.winner}, declared ${d.declaredAt ?? "?"} (sequential test, ${x.winnerAction === "route" ? "new entries routed to it" : "reported only"})`
        : `  winner: none yet (sequential test on ${x.metric === "mean" ? "revenue per customer" : "conversion"}, ${d?.looks ?? 0} looks)`,
    );
    for (const a of x.look?.arms ?? [])
      lines.push(
        `    ${a.variant}: always-valid p = ${pValue(a.pValue)} (α per variant ${x.look?.alphaPerVariant}), ${a.decision}`,
      );
    if (x.lookError) lines.push(`    sequential test cannot be computed: ${x.lookError}`);
  }
  if (s.pilot)
    lines.push(
      `  pilot entrants (apart): ${count(s.pilot.customers)} customers, conversion ${pct(s.pilot.conversionRate)}`,
    );
  for (const w of s.warnings) lines.push(`  warning: ${w}`);
  return lines;
}

export function formatScenarioEffects(r: ScenarioEffectReport): string {
  const lines = [
    `Incremental effect, entries ${r.from ? r.from.slice(0, 10) : "from the start"} to ${r.to.slice(0, 10)}${r.currency ? `, ${r.currency}` : ""}`,
  ];
  const st = r.strategy;
  if (st) {
    lines.push(
      "",
      `Whole strategy: global control vs everyone else, goals ${st.goalEvents.join(", ")} within ${st.windowDays} d of the first entry`,
      ...groupTable([st.control, st.treatment]),
    );
    if (st.effect) lines.push(...comparisonLines(st.effect));
    for (const w of st.warnings) lines.push(`  warning: ${w}`);
  }
  for (const s of r.scenarios) lines.push("", ...scenarioLines(s));
  for (const w of r.warnings) lines.push("", `warning: ${w}`);
  return `${lines.join("\n")}\n`;
}
