// The NPS report as text for the terminal: the overall score with its interval and counts, then one line per group.
import type { NpsFigures } from "../core/nps/index.ts";
import type { NpsReport } from "./nps-report.ts";

function score(f: NpsFigures): string {
  if (f.nps === null || f.ci95 === null) return "no answers";
  const sign = (x: number) => (x > 0 ? `+${x}` : String(x));
  return `NPS ${sign(f.nps)} (95% CI ${sign(f.ci95.low)} … ${sign(f.ci95.high)})`;
}

function counts(f: NpsFigures): string {
  return `${f.responses} answers: ${f.promoters} promoters, ${f.passives} passives, ${f.detractors} detractors`;
}

export function formatNpsReport(r: NpsReport): string {
  const lines = [
    `NPS ${r.from ? `from ${r.from} ` : ""}to ${r.to}`,
    `  overall  ${score(r.overall)}  ${counts(r.overall)}; ${r.overall.comments} with a comment`,
    `  surveys sent ${r.surveysSent}${r.responseRate === null ? "" : `, answers per survey ${(r.responseRate * 100).toFixed(1)}%`}`,
  ];
  if (r.invalid > 0) lines.push(`  ${r.invalid} answers without a whole score 0–10 were left out`);
  if (r.by) {
    lines.push(`By ${r.by}:`);
    const width = Math.max(8, ...r.groups.map((g) => g.key.length));
    for (const g of r.groups) lines.push(`  ${g.key.padEnd(width)}  ${score(g)}  ${counts(g)}`);
    if (r.groups.length === 0) lines.push("  no answers");
  }
  lines.push(r.method);
  return lines.join("\n");
}
