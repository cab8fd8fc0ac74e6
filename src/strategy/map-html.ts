// Small pieces of the communication map page: HTML escaping, number and duration labels, the stylesheet
// (screen and A4-landscape print) and the SVG bar of one channel's load against its caps.

export function esc(v: unknown): string {
  return String(v)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

export function duration(ms: number): string {
  const d = ms / 86_400_000;
  if (d >= 1 && Math.abs(d - Math.round(d)) < 1e-9) return `${Math.round(d)}d`;
  const h = ms / 3_600_000;
  if (h >= 1 && Math.abs(h - Math.round(h)) < 1e-9) return `${Math.round(h)}h`;
  return `${Math.round(ms / 60_000)}m`;
}

export function timing(atMs: number): string {
  return atMs === 0 ? "day 0" : `+${duration(atMs)}`;
}

export function num(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return "—";
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

export function percent(f: number): string {
  return `${num(f * 100, 1)}%`;
}

/** A horizontal bar of a channel's expected weekly load, with a tick at each weekly cap that applies to it. */
export function loadBar(load: number, caps: readonly number[]): string {
  const scale = Math.max(load, ...caps, 1) * 1.1;
  const w = 140;
  const x = (v: number) => Math.round((v / scale) * w * 10) / 10;
  const over = caps.some((c) => load > c);
  const ticks = caps
    .map(
      (c) =>
        `<line x1="${x(c)}" x2="${x(c)}" y1="1" y2="17" class="cap"><title>cap ${esc(num(c))} per week</title></line>`,
    )
    .join("");
  return `<svg class="bar" width="${w}" height="18" viewBox="0 0 ${w} 18" role="img" aria-label="${esc(num(load, 2))} per week">
<rect x="0" y="4" width="${w}" height="10" class="track"/><rect x="0" y="4" width="${x(load)}" height="10" class="${over ? "fill over" : "fill"}"/>${ticks}</svg>`;
}

/** The journey strip: one arrow-shaped box per stage, in the order of the columns below it. */
export function journeyStrip(stages: readonly { name: string; count: number | null }[]): string {
  const boxW = 150;
  const h = 40;
  const parts = stages.map((s, i) => {
    const x = i * (boxW + 6);
    const label = s.name.replace(/_/g, " ");
    const count =
      s.count === null
        ? ""
        : `<text x="${x + boxW / 2}" y="32" class="count">${esc(num(s.count, 0))} customers</text>`;
    return `<g data-journey-stage="${esc(s.name)}"><path d="M${x} 0 H${x + boxW - 12} L${x + boxW} ${h / 2} L${x + boxW - 12} ${h} H${x} L${x + 12} ${h / 2} Z" class="stage"/>
<text x="${x + boxW / 2}" y="17" class="name">${esc(label)}</text>${count}</g>`;
  });
  const width = Math.max(1, stages.length * (boxW + 6));
  return `<svg class="journey" viewBox="0 0 ${width} ${h}" width="100%" preserveAspectRatio="xMinYMin meet" role="img" aria-label="customer journey">${parts.join("")}</svg>`;
}

export const STYLE = `
:root { --ink: #1d2330; --muted: #5d6678; --line: #d7dce5; --accent: #2f6fdf; --warn: #c2410c; --bg: #f6f7fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: var(--ink); background: #fff; }
header, section { padding: 12px 20px; }
header { border-bottom: 1px solid var(--line); }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 15px; margin: 0 0 8px; }
.muted { color: var(--muted); }
.summary { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 12px; }
.panel table { font-size: 12px; }
.panel { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; background: var(--bg); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 4px 6px; border-bottom: 1px solid var(--line); }
.map { overflow-x: auto; }
.map table { table-layout: fixed; min-width: 900px; }
.map th.channel { width: 90px; background: var(--bg); }
.map th.stage { background: #e9effb; font-size: 12px; }
.map td { border-left: 1px solid var(--line); }
.msg { border: 1px solid var(--line); border-left: 3px solid var(--accent); border-radius: 4px; padding: 3px 5px; margin: 0 0 4px; background: #fff; font-size: 11px; break-inside: avoid; }
.msg.pilot { border-left-color: #a855f7; }
.msg.transactional { border-left-color: #64748b; }
.msg b { font-weight: 600; }
.tag { display: inline-block; padding: 0 4px; border-radius: 3px; background: #eef1f6; color: var(--muted); font-size: 10px; margin-right: 2px; }
.journey { max-height: 48px; margin: 4px 0 8px; }
.journey .stage { fill: #e9effb; stroke: #9bb4e8; }
.journey .name { font-size: 13px; font-weight: 600; text-anchor: middle; fill: var(--ink); }
.journey .count { font-size: 10px; text-anchor: middle; fill: var(--muted); }
.bar .track { fill: #eef1f6; } .bar .fill { fill: var(--accent); } .bar .fill.over { fill: var(--warn); }
.bar .cap { stroke: var(--ink); stroke-width: 2; }
.warn { color: var(--warn); }
@media print {
  @page { size: A4 landscape; margin: 10mm; }
  body { font-size: 10px; }
  header, section { padding: 6px 0; }
  .map { overflow: visible; }
  .map table { min-width: 0; }
  .panel { background: #fff; }
  section { break-inside: avoid-page; }
  .scenarios { break-before: page; }
}
`;
