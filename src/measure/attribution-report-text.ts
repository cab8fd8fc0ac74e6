// The attribution report as text for the terminal. Every money figure is called attributed: it says where revenue
// came from under a model, not what the messages added (SPEC §7).
import type { AttributedTotal, AttributionReport } from "./attribution-report.ts";

const money = (x: number) => x.toFixed(2);

function table(title: string, rows: { name: string; t: AttributedTotal }[]): string[] {
  if (rows.length === 0) return [`${title}: none`];
  const width = Math.max(...rows.map((r) => r.name.length), 8);
  return [
    `${title}:`,
    ...rows.map(
      (r) =>
        `  ${r.name.padEnd(width)}  attributed revenue ${money(r.t.attributedRevenue).padStart(12)}  attributed conversions ${r.t.attributedConversions}`,
    ),
  ];
}

export function formatAttributionReport(r: AttributionReport): string {
  const c = r.conversions;
  return [
    `Attribution (${r.model}) ${r.from ? `from ${r.from} ` : ""}to ${r.to}`,
    r.label,
    `Conversions: ${c.count} (${c.refunds} refunds), net revenue ${money(c.revenue)}${r.currency ? ` ${r.currency}` : ""}`,
    `  attributed to messages: ${c.attributed.count} conversions, attributed revenue ${money(c.attributed.revenue)}`,
    `  unattributed (no message touched them inside its window): ${c.unattributed.count} conversions, revenue ${money(c.unattributed.revenue)}`,
    ...table(
      "By channel",
      r.byChannel.map((x) => ({ name: x.channel, t: x })),
    ),
    ...table(
      "By scenario",
      r.byScenario.map((x) => ({ name: x.scenario, t: x })),
    ),
    ...table(
      "By message (scenario / step / template)",
      r.byMessage.map((x) => ({ name: `${x.scenario} / ${x.step} / ${x.template}`, t: x })),
    ),
    ...r.warnings.map((w) => `warning: ${w}`),
  ].join("\n");
}
