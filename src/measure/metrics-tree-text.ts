// The metrics tree as plain text for the terminal (`tact report`): the revenue tree drawn as a tree, then the
// base, channels, scenarios and goals as aligned tables, and the notes that qualify the figures.

import type { MetricsTree } from "./metrics-tree.ts";
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

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].map((l) => `  ${l}`);
}

export function formatMetricsTree(tree: MetricsTree): string {
  const cur = tree.currency;
  const r = tree.revenue;
  const out: string[] = [];
  out.push(`Metrics tree${tree.workspace ? ` of ${tree.workspace}` : ""}, ${periodLabel(tree.period)}`);
  out.push(
    tree.strategy
      ? `Strategy: ${tree.strategy.name}${tree.strategy.version !== null ? ` (version ${tree.strategy.version})` : ""}`
      : "Strategy: none applied",
  );
  out.push("");
  out.push(
    `Revenue ${money(r.revenue, cur)}  (orders ${money(r.grossRevenue, cur)} − ${count(r.refunds)} refund${r.refunds === 1 ? "" : "s"} ${money(r.refundedAmount, cur)})`,
  );
  out.push(`├─ active customers (ordered in the period)  ${count(r.activeCustomers)}`);
  out.push(`└─ ARPU  ${money(r.arpu, cur)}`);
  out.push(`   ├─ orders per customer  ${decimal(r.ordersPerCustomer)}  (${count(r.orders)} orders)`);
  out.push(`   └─ average order value  ${money(r.aov, cur)}`);
  out.push("");

  const b = tree.base;
  out.push("Base");
  out.push(
    `  ${count(b.size)} customers (${count(b.newCustomers)} new in the period), ${count(b.identified)} identified, ` +
      `${count(b.digitised)} digitised (${share(b.digitisedShare)}: identified and reachable on a channel)`,
  );
  if (b.stages.length > 0) {
    out.push(
      ...table(
        ["stage", "at start", "at end", "share at end"],
        b.stages.map((s) => [stageLabel(s.stage, ""), count(s.atStart), count(s.atEnd), share(s.shareAtEnd)]),
      ),
    );
  }
  if (b.flows.length > 0) {
    out.push("  Moves between stages in the period:");
    for (const f of b.flows)
      out.push(
        `    ${stageLabel(f.from, "(no stage)")} → ${stageLabel(f.to, "(left the base)")}  ${count(f.moves)}`,
      );
  }
  out.push("");

  if (tree.channels.length > 0) {
    out.push("Channels (rates are shares of the messages sent)");
    out.push(
      ...table(
        ["channel", "reach", "sent", "delivered", "opened", "clicked", "unsubscribed", "bounced", "cost"],
        tree.channels.map((c) => [
          c.channel,
          `${count(c.reachable)} (${share(c.reach)})`,
          count(c.sent),
          `${count(c.delivered)} ${share(c.rates.delivered)}`,
          `${count(c.opened)} ${share(c.rates.opened)}`,
          `${count(c.clicked)} ${share(c.rates.clicked)}`,
          `${count(c.unsubscribed)} ${share(c.rates.unsubscribed, 2)}`,
          `${count(c.bounced)} ${share(c.rates.bounced)}`,
          money(c.cost, cur),
        ]),
      ),
    );
    out.push("");
  }

  if (tree.scenarios.length > 0) {
    out.push("Scenarios");
    out.push(
      ...table(
        ["scenario", "goal", "entered", "of them control", "messages sent", "cost"],
        tree.scenarios.map((s) => [
          s.scenario,
          s.goal ?? "—",
          count(s.entered),
          count(s.controlEntered),
          count(s.sent),
          money(s.cost, cur),
        ]),
      ),
    );
    out.push("");
  }

  if (tree.goals.length > 0) {
    out.push(
      "Goals (entries of the period whose window has closed; customers held out in a control group left out)",
    );
    out.push(
      ...table(
        ["goal", "target", "actual", "entries", "verdict"],
        tree.goals.map((g) => [
          g.goal,
          goalValue(g.target.kind, g.target.value, cur),
          goalValue(g.target.kind, g.actual, cur),
          count(g.entries),
          `${VERDICT_LABEL[g.verdict]} (${g.reason})`,
        ]),
      ),
    );
    out.push("");
  }

  for (const n of tree.notes) out.push(`Note: ${n}`);
  return out.join("\n").trimEnd();
}
