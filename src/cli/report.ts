// `tact report [--workspace W] [--from D] [--to D] [--json | --html [-o FILE]]`: the metrics tree of a period, as
// text, JSON or a self-contained HTML page. Other reports are its subcommands (`tact report experiment NAME`).
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import { parsePeriod } from "../measure/metrics-period.ts";
import { metricsTree } from "../measure/metrics-tree.ts";
import { renderMetricsTreeHtml } from "../measure/metrics-tree-html.ts";
import { formatMetricsTree } from "../measure/metrics-tree-text.ts";
import { getWorkspace } from "../store/workspaces.ts";
import { UsageError, withDb } from "./context.ts";

interface ReportFlags {
  workspace: string;
  from?: string;
  to?: string;
  json?: boolean;
  html?: boolean;
  output?: string;
}

const HELP = `
The metrics tree of a period: revenue = active customers × ARPU, ARPU = orders per customer × average order value;
each channel's reach, messages and cost; each scenario's entries and cost; the base, its stages and the moves
between them; each goal's target against its actual. Dates are ISO (2026-10-01, or 2026-10-01T12:00+03:00); a date
alone is a whole day, so --from 2026-10-01 --to 2026-10-31 is October. Default: the last 30 days.`;

/** Adds the metrics tree to `tact report` (made here if no other module has made it yet). */
export function registerReport(program: Command): void {
  const report =
    program.commands.find((c) => c.name() === "report") ?? program.command("report").description("reports");
  report
    .description("the metrics tree of a period (and other reports: see the subcommands)")
    // the subcommands have their own --workspace and --json: options of `report` must come before their name
    .enablePositionalOptions()
    .option("--workspace <name>", "workspace", "default")
    .option("--from <date>", "first day or moment of the period (default: 30 days before --to)")
    .option("--to <date>", "last day of the period, or the moment it ends (default: now)")
    .option("--json", "print the figures as JSON")
    .option("--html", "write the report as a self-contained HTML page")
    .option("-o, --output <file>", "with --html: the file to write (default: standard output)")
    .addHelpText("after", HELP)
    .action((flags: ReportFlags) =>
      withDb(async (db) => {
        if (flags.json && flags.html) throw new UsageError("--json and --html: choose one");
        if (flags.output && !flags.html) throw new UsageError("--output goes with --html");
        const now = new Date();
        const period = parsePeriod({ from: flags.from, to: flags.to }, now);
        if (!period.ok) throw new UsageError(`--${period.field}: ${period.message}`);
        const ws = await getWorkspace(db, flags.workspace);
        const tree = await metricsTree(db, ws.id, {
          from: period.from,
          to: period.to,
          now,
          workspace: ws.name,
        });
        if (flags.html) {
          const html = renderMetricsTreeHtml(tree);
          if (flags.output) {
            writeFileSync(flags.output, html);
            process.stdout.write(`${resolve(flags.output)}\n`);
          } else process.stdout.write(html);
          return;
        }
        process.stdout.write(
          flags.json ? `${JSON.stringify(tree, null, 2)}\n` : `${formatMetricsTree(tree)}\n`,
        );
      }),
    );
}
