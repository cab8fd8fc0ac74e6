// The metrics tree as one self-contained HTML page (`tact report --html`): inline CSS and SVG, no script and no
// request, readable on a laptop and printed on A4. Every text from the data is escaped.
import { esc } from "../strategy/map-html.ts";
import type { MetricsTree } from "./metrics-tree.ts";
import { funnelSvg, goalSvg, revenueByDaySvg, revenueTreeSvg, stagesSvg } from "./metrics-tree-charts.ts";
import {
  count,
  decimal,
  goalValue,
  money,
  periodLabel,
  share,
  stageLabel,
  VERDICT_LABEL,
} from "./metrics-tree-format.ts";
import {
  card,
  contributionSection,
  head,
  npsSection,
  row,
  scenariosSection,
} from "./metrics-tree-html-effects.ts";

const STYLE = `
:root { --ink: #1d2330; --muted: #5d6678; --line: #d7dce5; --accent: #2f6fdf; --good: #15803d; --warn: #c2410c; --bg: #f6f7fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: var(--ink); background: #fff; }
header, section { padding: 12px 24px; max-width: 1180px; }
header { border-bottom: 1px solid var(--line); }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 15px; margin: 0 0 8px; }
.muted { color: var(--muted); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: right; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: middle; }
th:first-child, td:first-child { text-align: left; }
th { font-weight: 600; color: var(--muted); font-size: 12px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin-bottom: 10px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; background: var(--bg); min-width: 150px; }
.card b { display: block; font-size: 18px; }
svg text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: var(--ink); }
svg .node { fill: var(--bg); stroke: var(--accent); stroke-width: 1.5; }
svg .label { text-anchor: middle; fill: var(--muted); }
svg .value { text-anchor: middle; font-size: 16px; font-weight: 600; }
svg .op { text-anchor: middle; font-size: 18px; fill: var(--muted); }
svg .edge { fill: none; stroke: var(--line); stroke-width: 1.5; }
svg .axis { stroke: var(--muted); }
svg .bar { fill: var(--accent); } svg .bar.neg { fill: var(--warn); }
svg .tick { fill: var(--muted); font-size: 11px; } svg .tick.end { text-anchor: end; }
svg .track { fill: #e7eaf0; } svg .fill { fill: var(--accent); } svg .fill.met { fill: var(--good); }
svg .cap { stroke: var(--ink); stroke-width: 2; }
svg .at-start { fill: #a9c1ee; } svg .at-end { fill: var(--accent); }
svg.stages { max-width: 100%; height: auto; }
td.text { text-align: left; } svg .num { fill: var(--muted); font-size: 11px; }
.legend span { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 12px; vertical-align: middle; }
.verdict { font-weight: 600; } .verdict.met { color: var(--good); } .verdict.not_met { color: var(--warn); }
.verdict.not_enough_data { color: var(--muted); }
.notes li { color: var(--muted); }
h3 { font-size: 13px; margin: 0 0 6px; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.panel { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; background: var(--bg); }
#incremental { border-color: var(--good); } #attributed { border-color: var(--accent); }
.big { font-size: 24px; font-weight: 700; }
.warnings li { color: var(--warn); font-size: 12px; }
table.wide { font-size: 12px; }
svg.nps, svg.stages { max-width: 100%; height: auto; }
@media (max-width: 800px) { .pair { grid-template-columns: 1fr; } }
@page { size: A4 portrait; margin: 12mm; }
@media print { body { font-size: 11px; } header, section { padding: 6px 0; max-width: none; } section { break-inside: avoid; } }
`;

function revenueSection(tree: MetricsTree): string {
  const r = tree.revenue;
  const cur = tree.currency;
  return `<section id="revenue"><h2>Revenue</h2>
${revenueTreeSvg(r, cur)}
<p class="muted">Active customers ordered in the period. Revenue is orders (${esc(money(r.grossRevenue, cur))}, ${esc(count(r.orders))} orders) less ${esc(count(r.refunds))} refund${r.refunds === 1 ? "" : "s"} (${esc(money(r.refundedAmount, cur))}).</p>
<h2>Revenue by day</h2>${r.byDay.length > 0 ? revenueByDaySvg(r.byDay, tree.period, cur) : `<p class="muted">No order in the period.</p>`}
</section>`;
}

function channelsSection(tree: MetricsTree): string {
  if (tree.channels.length === 0)
    return `<section id="channels"><h2>Channels</h2><p class="muted">No channel: no strategy and no message.</p></section>`;
  const cur = tree.currency;
  const cell = (n: number, rate: number | null) =>
    `${esc(count(n))} <span class="muted">${esc(share(rate))}</span>`;
  const rows = tree.channels.map((c) =>
    row(
      [
        esc(c.channel),
        `${esc(count(c.reachable))} <span class="muted">${esc(share(c.reach))}</span>`,
        esc(count(c.sent)),
        cell(c.delivered, c.rates.delivered),
        cell(c.opened, c.rates.opened),
        cell(c.clicked, c.rates.clicked),
        `${esc(count(c.unsubscribed))} <span class="muted">${esc(share(c.rates.unsubscribed, 2))}</span>`,
        cell(c.bounced, c.rates.bounced),
        esc(money(c.cost, cur)),
        funnelSvg(c),
      ],
      ` data-channel="${esc(c.channel)}"`,
    ),
  );
  const moneyRows = tree.channels.map((c) =>
    row(
      [
        esc(c.channel),
        esc(money(c.cost, cur)),
        esc(c.costPerMessage === null ? "as recorded" : money(c.costPerMessage, cur)),
        esc(c.attributedRevenue === null ? "—" : money(c.attributedRevenue, cur)),
        esc(money(c.revenuePerMessage, cur)),
        esc(money(c.revenuePerSubscriber, cur)),
      ],
      ` data-channel-money="${esc(c.channel)}"`,
    ),
  );
  const moneyTable = `<h3>Cost and attributed revenue</h3><table>${head(["channel", "cost", "per message", "attributed revenue", "revenue per message", "revenue per reachable customer"])}${moneyRows.join("")}</table>`;
  return `<section id="channels"><h2>Channels</h2>
<table>${head(["channel", "reach", "sent", "delivered", "opened", "clicked", "unsubscribed", "bounced", "cost", "funnel"])}${rows.join("")}</table>
${moneyTable}
<p class="muted">Reach: customers with the contact point and the consent the strategy requires, as a share of the base. Rates are shares of the messages sent; cost is messages sent × the channel's cost in the strategy. Attributed revenue (last touch) says where revenue came from, not what the channel added; per reachable customer divides it by the channel's reach.</p></section>`;
}

function baseSection(tree: MetricsTree): string {
  const b = tree.base;
  const cards = [
    card("Customers", count(b.size), "base-size"),
    card("New in the period", count(b.newCustomers), "new-customers"),
    card("Identified", count(b.identified), "identified"),
    card("Digitised", `${count(b.digitised)} (${share(b.digitisedShare)})`, "digitised"),
  ].join("");
  const stages =
    b.stages.length > 0
      ? `<h2>Stages</h2><div class="legend muted"><span style="background:#a9c1ee"></span>at the start<span style="background:#2f6fdf"></span>at the end</div>${stagesSvg(b.stages)}`
      : `<p class="muted">No stage history.</p>`;
  const flows =
    b.flows.length > 0
      ? `<h2>Moves between stages</h2><table>${head(["from", "to", "customers"])}${b.flows
          .map((f) =>
            row(
              [
                esc(stageLabel(f.from, "(no stage)")),
                esc(stageLabel(f.to, "(left the base)")),
                esc(count(f.moves)),
              ],
              " data-flow",
              [1],
            ),
          )
          .join("")}</table>`
      : `<p class="muted">No move between stages in the period.</p>`;
  return `<section id="base"><h2>Base</h2><div class="cards">${cards}</div>
<p class="muted">Digitised: identified (a user id or a contact point) and reachable on at least one channel. Contact points and consents are as they are now.</p>
${stages}${flows}</section>`;
}

function goalsSection(tree: MetricsTree): string {
  if (tree.goals.length === 0) return "";
  const cur = tree.currency;
  const rows = tree.goals.map((g) =>
    row(
      [
        esc(g.goal),
        esc(`${g.event} within ${decimal(g.windowDays, 0)}d`),
        esc(goalValue(g.target.kind, g.target.value, cur)),
        esc(goalValue(g.target.kind, g.actual, cur)),
        goalSvg(g.actual, g.target.value),
        esc(count(g.entries)),
        `<span class="verdict ${esc(g.verdict)}">${esc(VERDICT_LABEL[g.verdict])}</span> <span class="muted">${esc(g.reason)}</span>`,
      ],
      ` data-goal="${esc(g.goal)}"`,
      [1, 6],
    ),
  );
  return `<section id="goals"><h2>Goals</h2><table>${head(["goal", "event", "target", "actual", "", "customers", "verdict"])}${rows.join("")}</table>
<p class="muted">Treated customers of the period whose goal window had closed, each once per scenario from their first entry; customers held out in a control group are left out.</p></section>`;
}

export function renderMetricsTreeHtml(tree: MetricsTree): string {
  const title = `Metrics tree${tree.workspace ? ` — ${tree.workspace}` : ""}`;
  const strategy = tree.strategy
    ? `${tree.strategy.name}${tree.strategy.version !== null ? `, version ${tree.strategy.version}` : ""}`
    : "no strategy applied";
  const notes =
    tree.notes.length > 0
      ? `<section id="notes"><h2>Notes</h2><ul class="notes">${tree.notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul></section>`
      : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>${STYLE}</style></head>
<body><header><h1>${esc(title)}</h1><div class="muted" id="period">${esc(periodLabel(tree.period))} · ${esc(strategy)} · generated ${esc(tree.generatedAt.slice(0, 16).replace("T", " "))} UTC</div></header>
${revenueSection(tree)}
${contributionSection(tree)}
${channelsSection(tree)}
${scenariosSection(tree)}
${baseSection(tree)}
${goalsSection(tree)}
${npsSection(tree)}
${notes}
</body></html>
`;
}
