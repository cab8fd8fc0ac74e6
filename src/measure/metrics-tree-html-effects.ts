// Parts of the metrics tree page: table helpers, and the sections fed by the effect, attribution and NPS reports —
// the CRM contribution with incremental and attributed revenue side by side (never one for the other), scenarios
// with their uplift against control, and NPS by stage.
import { esc } from "../strategy/map-html.ts";
import type { MetricsTree } from "./metrics-tree.ts";
import { npsSvg } from "./metrics-tree-charts.ts";
import type { Comparison } from "./metrics-tree-effects.ts";
import { count, decimal, estimateLabel, money, points, share, signed } from "./metrics-tree-format.ts";

/** A table row; cells in `text` columns are left-aligned like the first. */
export const row = (cells: string[], attrs = "", text: readonly number[] = []) =>
  `<tr${attrs}>${cells.map((c, i) => `<td${text.includes(i) ? ' class="text"' : ""}>${c}</td>`).join("")}</tr>`;
export const head = (cells: string[]) => `<tr>${cells.map((c) => `<th>${esc(c)}</th>`).join("")}</tr>`;
export const card = (label: string, value: string, figure: string) =>
  `<div class="card" data-figure="${esc(figure)}"><span class="muted">${esc(label)}</span><b>${esc(value)}</b></div>`;

const warningList = (ws: readonly string[]) =>
  ws.length > 0 ? `<ul class="warnings">${ws.map((w) => `<li>${esc(w)}</li>`).join("")}</ul>` : "";

function groups(c: Comparison, cur: string | null): string {
  const line = (name: string, g: Comparison["treatment"]) =>
    row([
      esc(name),
      esc(count(g.customers)),
      esc(share(g.conversionRate)),
      esc(money(g.revenuePerCustomer, cur)),
    ]);
  return `<table>${head(["group", "customers", "conversion", "revenue per customer"])}${line("treated", c.treatment)}${line("control (held out)", c.control)}</table>`;
}

export function contributionSection(tree: MetricsTree): string {
  const cur = tree.currency;
  const m = (x: number) => money(x, cur);
  const c = tree.contribution;
  const incremental = c
    ? `<div class="big" data-figure="incremental-revenue">${esc(c.incrementalRevenue ? signed(c.incrementalRevenue.estimate, m) : "—")}</div>
<div class="muted">${esc(c.incrementalRevenue ? `95% CI ${signed(c.incrementalRevenue.ci.lower, m)} … ${signed(c.incrementalRevenue.ci.upper, m)}` : "no estimate")}</div>
${groups(c, cur)}<p>Incremental conversions ${esc(estimateLabel(c.incrementalConversions, (x) => decimal(x, 1)))}; ROMI ${esc(estimateLabel(c.romi, (x) => share(x, 0)))} on ${esc(m(c.cost))} of messages.</p>
<p class="muted">${esc(c.label)} Goal events ${esc(c.goalEvents.join(", "))} within ${esc(decimal(c.windowDays, 0))} days of entry.</p>${warningList(c.warnings)}`
    : `<div class="big" data-figure="incremental-revenue">—</div><p class="muted">Not measured: no strategy in force, or the effect could not be computed (see the notes).</p>`;
  const a = tree.attribution;
  const attributed = a
    ? `<div class="big" data-figure="attributed-revenue">${esc(m(a.attributedRevenue))}</div>
<div class="muted">${esc(share(a.revenue !== 0 ? a.attributedRevenue / a.revenue : null))} of ${esc(m(a.revenue))} revenue; ${esc(m(a.unattributedRevenue))} touched by no message</div>
<p class="muted">${esc(a.label)} Model: ${esc(a.model.replace(/_/g, " "))}.</p>`
    : `<div class="big" data-figure="attributed-revenue">—</div><p class="muted">Attribution could not be computed (see the notes).</p>`;
  return `<section id="contribution"><h2>CRM contribution</h2><div class="pair">
<div class="panel" id="incremental"><h3>Incremental revenue — what CRM added (against the global control group)</h3>${incremental}</div>
<div class="panel" id="attributed"><h3>Attributed revenue — where revenue came from (not what CRM added)</h3>${attributed}</div>
</div></section>`;
}

export function scenariosSection(tree: MetricsTree): string {
  if (tree.scenarios.length === 0) return "";
  const cur = tree.currency;
  const m = (x: number) => money(x, cur);
  const rows = tree.scenarios.map((s) => {
    const e = s.effect;
    const conv = e
      ? `${esc(share(e.treatment.conversionRate))} <span class="muted">vs ${esc(share(e.control.conversionRate))}</span>`
      : "—";
    const uplift = e?.uplift
      ? `${esc(signed(e.uplift.difference, points))} <span class="muted">[${esc(signed(e.uplift.ci.lower, points))} … ${esc(signed(e.uplift.ci.upper, points))}], p ${esc(decimal(e.uplift.pValue, 3))}</span>`
      : "—";
    return row(
      [
        esc(s.scenario),
        esc(s.goal ?? "—"),
        esc(count(s.entered)),
        esc(count(s.controlEntered)),
        esc(count(s.sent)),
        esc(m(s.cost)),
        conv,
        uplift,
        esc(e ? money(e.treatment.revenue, cur) : "—"),
        esc(e?.incrementalRevenue ? estimateLabel(e.incrementalRevenue, m) : "—"),
        esc(e?.romi ? signed(e.romi.estimate, (x) => share(x, 0)) : "—"),
        esc(s.attributedRevenue === null ? "—" : m(s.attributedRevenue)),
      ],
      ` data-scenario="${esc(s.scenario)}"`,
      [1],
    );
  });
  return `<section id="scenarios"><h2>Scenarios</h2><table class="wide">${head([
    "scenario",
    "goal",
    "entered",
    "held out",
    "sent",
    "cost",
    "conversion vs control",
    "uplift",
    "revenue (treated)",
    "incremental revenue",
    "ROMI",
    "attributed revenue",
  ])}${rows.join("")}</table>
<p class="muted">Entered and sent count the period; cost is messages sent × the channel's cost. Conversion, uplift, revenue and ROMI compare the treated with the scenario's control group over the goal window (ROMI on the cost of the messages the treated received). Attributed revenue (last touch) is where revenue came from, shown beside, not the scenario's effect.</p></section>`;
}

export function npsSection(tree: MetricsTree): string {
  const n = tree.nps;
  if (!n)
    return `<section id="nps"><h2>NPS</h2><p class="muted">NPS could not be computed (see the notes).</p></section>`;
  if (n.responses === 0)
    return `<section id="nps"><h2>NPS</h2><div class="big" data-figure="nps">—</div><p class="muted">No answer in the period (${esc(count(n.surveysSent))} surveys sent).</p></section>`;
  const ci = n.ci95 ? `95% CI ${decimal(n.ci95.low, 0)} … ${decimal(n.ci95.high, 0)}` : "";
  return `<section id="nps"><h2>NPS</h2><div class="cards">${card("NPS", decimal(n.nps, 0), "nps")}${card("Answers", count(n.responses), "nps-responses")}${card("Response rate", share(n.responseRate), "nps-response-rate")}</div>
<p class="muted">${esc(ci)}; ${esc(count(n.promoters))} promoters, ${esc(count(n.passives))} passives, ${esc(count(n.detractors))} detractors. ${esc(n.method)}</p>
${n.byStage.length > 0 ? `<h3>By stage at the time of the answer</h3>${npsSvg(n.byStage)}` : ""}</section>`;
}
