// Inline SVG charts of the metrics tree page, drawn here so the page needs nothing from the network: the revenue
// tree as boxes, revenue by day (bars, refunds below the axis), a channel's message funnel, stages at the start
// and the end of the period, and a goal's actual against its target.
import { esc } from "../strategy/map-html.ts";
import type { RevenueTree } from "./metrics-tree.ts";
import { count, decimal, money, stageLabel } from "./metrics-tree-format.ts";

const r1 = (x: number) => Math.round(x * 10) / 10;

function box(x: number, y: number, w: number, label: string, value: string, figure: string): string {
  return `<g data-figure="${esc(figure)}"><rect x="${x}" y="${y}" width="${w}" height="52" rx="6" class="node"/>
<text x="${x + w / 2}" y="${y + 20}" class="label">${esc(label)}</text><text x="${x + w / 2}" y="${y + 41}" class="value">${esc(value)}</text></g>`;
}

function op(x: number, y: number, sign: string): string {
  return `<text x="${x}" y="${y}" class="op">${esc(sign)}</text>`;
}

/** Revenue = active customers × ARPU; ARPU = orders per customer × AOV. */
export function revenueTreeSvg(r: RevenueTree, currency: string | null): string {
  const w = 200;
  const parts = [
    box(250, 0, 220, "Revenue (net of refunds)", money(r.revenue, currency), "revenue"),
    `<path d="M360 52 V70 H130 V88 M360 70 H590 V88" class="edge"/>`,
    op(360, 122, "×"),
    box(30, 88, w, "Active customers", count(r.activeCustomers), "active-customers"),
    box(490, 88, w, "ARPU", money(r.arpu, currency), "arpu"),
    `<path d="M590 140 V158 H400 V176 M590 158 H780 V176" class="edge"/>`,
    op(590, 210, "×"),
    box(300, 176, w, "Orders per customer", decimal(r.ordersPerCustomer), "orders-per-customer"),
    box(680, 176, w, "Average order value", money(r.aov, currency), "aov"),
  ];
  return `<svg class="tree" viewBox="0 0 900 232" width="100%" role="img" aria-label="revenue tree">${parts.join("")}</svg>`;
}

/** Net revenue by day: a bar per day above the axis, below it for days when refunds outweighed orders. */
export function revenueByDaySvg(
  byDay: readonly { day: string; revenue: number; orders: number }[],
  period: { from: string; to: string },
  currency: string | null,
): string {
  const from = Date.parse(period.from.slice(0, 10));
  const days = Math.max(1, Math.ceil((Date.parse(period.to) - from) / 86_400_000));
  const width = 860;
  const height = 150;
  const max = Math.max(1, ...byDay.map((d) => Math.abs(d.revenue)));
  const hasNegative = byDay.some((d) => d.revenue < 0);
  const axis = hasNegative ? height * 0.7 : height - 16;
  const scale = (axis - 14) / max;
  const bw = Math.max(1, width / (days + 1) - 1);
  const bars = byDay.map((d) => {
    const i = Math.round((Date.parse(d.day) - from) / 86_400_000);
    const x = r1(Math.min(width - bw, Math.max(0, (i / (days + 1)) * width)));
    const h = r1(Math.abs(d.revenue) * scale);
    const y = d.revenue >= 0 ? r1(axis - h) : axis;
    return `<rect x="${x}" y="${y}" width="${r1(bw)}" height="${Math.max(h, 0.5)}" class="${d.revenue >= 0 ? "bar" : "bar neg"}"><title>${esc(d.day)}: ${esc(money(d.revenue, currency))}, ${esc(count(d.orders))} orders</title></rect>`;
  });
  const labels = `<text x="0" y="${height - 2}" class="tick">${esc(period.from.slice(0, 10))}</text><text x="${width}" y="${height - 2}" class="tick end">${esc(new Date(Date.parse(period.to) - 1).toISOString().slice(0, 10))}</text><text x="0" y="10" class="tick">max ${esc(money(max, currency))}</text>`;
  return `<svg class="series" viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="revenue by day"><line x1="0" x2="${width}" y1="${axis}" y2="${axis}" class="axis"/>${bars.join("")}${labels}</svg>`;
}

/** A channel's funnel: sent, delivered, opened, clicked as bars relative to sent. */
export function funnelSvg(c: { sent: number; delivered: number; opened: number; clicked: number }): string {
  const steps: [string, number][] = [
    ["sent", c.sent],
    ["delivered", c.delivered],
    ["opened", c.opened],
    ["clicked", c.clicked],
  ];
  const w = 160;
  const bars = steps.map(([label, n], i) => {
    const bw = c.sent > 0 ? r1((n / c.sent) * w) : 0;
    return `<rect x="0" y="${i * 12}" width="${w}" height="10" class="track"/><rect x="0" y="${i * 12}" width="${bw}" height="10" class="fill"><title>${esc(label)}: ${esc(count(n))}</title></rect>`;
  });
  return `<svg class="funnel" width="${w}" height="46" viewBox="0 0 ${w} 46" role="img" aria-label="funnel">${bars.join("")}</svg>`;
}

/** Customers in each stage at the start and at the end of the period, side by side. */
export function stagesSvg(stages: readonly { stage: string; atStart: number; atEnd: number }[]): string {
  const max = Math.max(1, ...stages.flatMap((s) => [s.atStart, s.atEnd]));
  const labelW = 120;
  const barW = 560;
  const rows = stages.map((s, i) => {
    const y = i * 34;
    const a = r1((s.atStart / max) * barW);
    const b = r1((s.atEnd / max) * barW);
    return `<g data-stage="${esc(s.stage)}"><text x="0" y="${y + 15}" class="name">${esc(stageLabel(s.stage, ""))}</text>
<rect x="${labelW}" y="${y + 2}" width="${Math.max(a, 0.5)}" height="12" class="at-start"/><rect x="${labelW}" y="${y + 16}" width="${Math.max(b, 0.5)}" height="12" class="at-end"/>
<text x="${labelW + a + 4}" y="${y + 12}" class="num">${esc(count(s.atStart))}</text><text x="${labelW + b + 4}" y="${y + 26}" class="num">${esc(count(s.atEnd))}</text></g>`;
  });
  const h = Math.max(34, stages.length * 34);
  return `<svg class="stages" viewBox="0 0 760 ${h}" width="760" role="img" aria-label="stages at the start and the end of the period">${rows.join("")}</svg>`;
}

/** A goal's actual as a bar, its target as a tick. */
export function goalSvg(actual: number | null, target: number): string {
  const w = 160;
  const scale = Math.max(target * 1.5, actual ?? 0, 1e-9);
  const x = (v: number) => r1(Math.min(w, (v / scale) * w));
  const bar =
    actual === null
      ? ""
      : `<rect x="0" y="4" width="${x(actual)}" height="10" class="${actual >= target ? "fill met" : "fill"}"/>`;
  return `<svg class="bar" width="${w}" height="18" viewBox="0 0 ${w} 18" role="img" aria-label="actual against target"><rect x="0" y="4" width="${w}" height="10" class="track"/>${bar}<line x1="${x(target)}" x2="${x(target)}" y1="0" y2="18" class="cap"/></svg>`;
}

/** NPS by stage: a bar from the zero line, right for a positive score, left for a negative one (−100…100). */
export function npsSvg(rows: readonly { stage: string; nps: number | null; responses: number }[]): string {
  const labelW = 120;
  const half = 240;
  const zero = labelW + half;
  const parts = rows.map((r, i) => {
    const y = i * 22;
    const v = r.nps ?? 0;
    const w = r1((Math.abs(v) / 100) * half);
    const x = v >= 0 ? zero : zero - w;
    return `<g data-nps-stage="${esc(r.stage)}"><text x="0" y="${y + 14}" class="name">${esc(stageLabel(r.stage, ""))}</text>
<rect x="${x}" y="${y + 4}" width="${Math.max(w, 0.5)}" height="12" class="${v >= 0 ? "fill" : "bar neg"}"/><text x="${zero + half + 8}" y="${y + 14}" class="num">${esc(r.nps === null ? "—" : decimal(r.nps, 0))} (${esc(count(r.responses))} answers)</text></g>`;
  });
  const h = Math.max(22, rows.length * 22);
  return `<svg class="nps" viewBox="0 0 760 ${h}" width="760" role="img" aria-label="NPS by stage"><line x1="${zero}" x2="${zero}" y1="0" y2="${h}" class="axis"/>${parts.join("")}</svg>`;
}
