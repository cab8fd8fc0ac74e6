// The simulation report as text tables for a terminal: the same figures as `--json`, laid out to be read.
import type { SimulationReport, SimulationTimings } from "../engine/simulate.ts";

const n = (x: number) => x.toLocaleString("en-US", { maximumFractionDigits: 4 });

/** Columns padded to their widest cell; numbers right-aligned. */
function table(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map((c) => (typeof c === "number" ? n(c) : c)))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  return cells
    .map((r, ri) =>
      r
        .map((c, i) => {
          const numeric = ri > 0 && typeof rows[ri - 1]?.[i] === "number";
          return numeric ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0);
        })
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function reasons(title: string, rows: { reason: string; count: number }[]): string {
  if (rows.length === 0) return `${title}: none`;
  return `${title}:\n${table(
    ["reason", "messages"],
    rows.map((r) => [r.reason, r.count]),
  )
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n")}`;
}

export function simulationText(r: SimulationReport, timings: SimulationTimings): string {
  const channels = r.channels.map((c) => c.channel);
  const base =
    r.base.kind === "synthetic"
      ? `synthetic ${r.base.example} base of ${n(r.base.customers)} customers (seed ${r.base.seed}, ${r.base.historyDays} days of history)`
      : `copy of workspace ${r.base.workspace} (${n(r.base.copied.customers)} customers, ${n(r.base.copied.events)} events)`;
  const fates = Object.entries(r.messages.byFate)
    .map(([fate, count]) => `${n(count)} ${fate}`)
    .join(", ");
  const out = [
    `Simulation of "${r.strategy}": ${r.days} days from ${r.start} to ${r.end}, a step of ${r.stepMinutes} min`,
    `Base: ${base}.`,
    `Customers: ${n(r.customers.atStart)} at the start, ${n(r.customers.atEnd)} at the end; events: ${n(r.events.history)} of history, ${n(r.events.simulated)} during the simulation${r.events.rejected ? ` (${n(r.events.rejected)} rejected)` : ""}.`,
    `Messages: ${n(r.messages.planned)} planned${fates ? ` — ${fates}` : ""}.`,
    "",
    "Messages sent per customer per week, by channel:",
    table(
      ["week", "from", "days", "customers", "recipients", ...channels, "all", "most to one"],
      r.weeks.map((w) => [
        w.week,
        w.from.slice(0, 10),
        w.days,
        w.customers,
        w.recipients,
        ...channels.map((c) => w.perCustomer[c] ?? 0),
        w.perCustomer.all ?? 0,
        w.maxPerCustomer,
      ]),
    ),
    "",
    "Sent by channel:",
    table(
      ["channel", "sent", "recipients", "per customer per week", `cost (${r.cost.currency})`],
      [
        ...r.channels.map((c) => [c.channel, c.sent, c.recipients, c.perCustomerPerWeek, c.cost]),
        ["all", r.messages.sent, "", "", r.cost.total],
      ],
    ),
    "",
    reasons("Suppressed, by reason", r.suppressions),
    reasons("Deferred, by reason (each deferral counted)", r.deferrals),
    reasons("Failed, by reason", r.failures),
    "",
    `Customers hitting the frequency caps: ${n(r.caps.customers)} (${n(r.caps.suppressions)} messages suppressed).`,
  ];
  if (r.caps.top.length > 0) {
    out.push(
      table(
        ["customer", "user id", "capped", "sent"],
        r.caps.top.map((c) => [c.customerId, c.userId ?? "-", c.capped, c.sent]),
      ),
    );
  }
  out.push(
    "",
    "Scenarios (entries by state; messages):",
    table(
      [
        "scenario",
        "entries",
        "active",
        "completed",
        "exited",
        "goal reached",
        "failed",
        "sent",
        "suppressed",
      ],
      r.scenarios.map((s) => [
        s.scenario,
        s.entries,
        s.active,
        s.completed,
        s.exited,
        s.goalReached,
        s.failed,
        s.sent,
        s.suppressed,
      ]),
    ),
    "",
    `Ran ${n(timings.steps)} steps in ${n(timings.runSeconds)} s (base ${n(timings.loadSeconds)} s, apply ${n(timings.applySeconds)} s, report ${n(timings.reportSeconds)} s). Nothing was sent: every channel went into a sink.`,
  );
  return out.join("\n");
}
