// The metrics tree as plain text for the terminal (`tact report`): the revenue tree drawn as a tree, then the
// base, channels, scenarios and goals as aligned tables, and the notes that qualify the figures.

import type { MetricsTree } from "./metrics-tree.ts";
import {
  count,
  decimal,
  estimateLabel,
  goalValue,
  money,
  periodLabel,
  points,
  share,
  signed,
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
  out.push(...contributionLines(tree));

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
        [
          "channel",
          "reach",
          "sent",
          "delivered",
          "opened",
          "clicked",
          "unsubscribed",
          "bounced",
          "cost",
          "attributed revenue",
          "per message",
          "per reachable",
        ],
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
          c.attributedRevenue === null ? "—" : money(c.attributedRevenue, cur),
          money(c.revenuePerMessage, cur),
          money(c.revenuePerSubscriber, cur),
        ]),
      ),
    );
    out.push("");
  }

  if (tree.scenarios.length > 0) {
    const m = (x: number) => money(x, cur);
    out.push(
      "Scenarios (uplift, incremental revenue and ROMI: treated against the scenario's control group)",
    );
    out.push(
      ...table(
        [
          "scenario",
          "goal",
          "entered",
          "held out",
          "sent",
          "cost",
          "conversion vs control",
          "uplift",
          "incremental revenue",
          "ROMI",
          "attributed revenue",
        ],
        tree.scenarios.map((s) => [
          s.scenario,
          s.goal ?? "—",
          count(s.entered),
          count(s.controlEntered),
          count(s.sent),
          m(s.cost),
          s.effect
            ? `${share(s.effect.treatment.conversionRate)} vs ${share(s.effect.control.conversionRate)}`
            : "—",
          s.effect?.uplift
            ? `${signed(s.effect.uplift.difference, points)} (p ${decimal(s.effect.uplift.pValue, 3)})`
            : "—",
          s.effect?.incrementalRevenue ? estimateLabel(s.effect.incrementalRevenue, m) : "—",
          s.effect?.romi ? signed(s.effect.romi.estimate, (x) => share(x, 0)) : "—",
          s.attributedRevenue === null ? "—" : m(s.attributedRevenue),
        ]),
      ),
    );
    out.push("");
  }

  if (tree.goals.length > 0) {
    out.push(
      "Goals (treated customers of the period whose window had closed, each once per scenario; control groups left out)",
    );
    out.push(
      ...table(
        ["goal", "target", "actual", "customers", "verdict"],
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

  const n = tree.nps;
  if (n) {
    out.push(
      n.responses === 0
        ? `NPS: no answer in the period (${count(n.surveysSent)} surveys sent)`
        : `NPS ${decimal(n.nps, 0)}${n.ci95 ? ` (95% CI ${decimal(n.ci95.low, 0)} … ${decimal(n.ci95.high, 0)})` : ""}: ` +
            `${count(n.promoters)} promoters, ${count(n.passives)} passives, ${count(n.detractors)} detractors` +
            `${n.byStage.length > 0 ? `; by stage ${n.byStage.map((g) => `${g.stage} ${decimal(g.nps, 0)} (${count(g.responses)})`).join(", ")}` : ""}`,
    );
    out.push("");
  }

  for (const note of tree.notes) out.push(`Note: ${note}`);
  return out.join("\n").trimEnd();
}

/** Incremental revenue and attributed revenue, side by side and named so that neither passes for the other. */
function contributionLines(tree: MetricsTree): string[] {
  const m = (x: number) => money(x, tree.currency);
  const out = ["CRM contribution"];
  const c = tree.contribution;
  if (c) {
    out.push(
      `  Incremental revenue (what CRM added, against the global control group): ${estimateLabel(c.incrementalRevenue, m)}`,
    );
    out.push(
      `    treated ${count(c.treatment.customers)} customers, conversion ${share(c.treatment.conversionRate)}; ` +
        `held out ${count(c.control.customers)}, conversion ${share(c.control.conversionRate)}; ROMI ${estimateLabel(c.romi, (x) => share(x, 0))}`,
    );
    for (const w of c.warnings) out.push(`    ! ${w}`);
  } else out.push("  Incremental revenue: not measured (no strategy in force, or see the notes)");
  const a = tree.attribution;
  out.push(
    a
      ? `  Attributed revenue (where revenue came from, ${a.model.replace(/_/g, " ")}; not what CRM added): ${m(a.attributedRevenue)} of ${m(a.revenue)}, ${m(a.unattributedRevenue)} touched by no message`
      : "  Attributed revenue: not computed (see the notes)",
  );
  out.push("");
  return out;
}
