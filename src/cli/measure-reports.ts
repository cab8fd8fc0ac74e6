// `tact report nps` and `tact report attribution`: flags are checked here, the work is in src/measure/.
import { type Command, InvalidArgumentError } from "commander";
import { parseTimestamp } from "../ingest/csv-values.ts";
import {
  ATTRIBUTION_MODELS,
  type AttributionModelName,
  attributionReport,
} from "../measure/attribution-report.ts";
import { formatAttributionReport } from "../measure/attribution-report-text.ts";
import { NPS_GROUPINGS, type NpsGrouping, npsReport } from "../measure/nps-report.ts";
import { formatNpsReport } from "../measure/nps-report-text.ts";
import { getWorkspace } from "../store/workspaces.ts";
import { print, UsageError, withDb } from "./context.ts";

function parseDate(v: string): Date {
  const d = parseTimestamp(v);
  if (!d.ok) throw new InvalidArgumentError(d.reason);
  return d.value;
}

function oneOf<T extends string>(allowed: readonly T[]) {
  return (v: string): T => {
    if (!(allowed as readonly string[]).includes(v))
      throw new InvalidArgumentError(`one of ${allowed.join(", ")}`);
    return v as T;
  };
}

interface PeriodFlags {
  workspace: string;
  from?: Date;
  to?: Date;
  json?: boolean;
}

function period(flags: PeriodFlags): { from?: Date; to: Date } {
  const to = flags.to ?? new Date();
  if (flags.from && flags.from.getTime() >= to.getTime()) throw new UsageError("--from: must be before --to");
  return flags.from ? { from: flags.from, to } : { to };
}

export function registerMeasureReports(report: Command): void {
  report
    .command("nps")
    .description("NPS (% promoters 9–10 − % detractors 0–6) with answer counts and a 95% confidence interval")
    .option("--workspace <name>", "workspace (default: default)", "default")
    .option("--from <date>", "answers from this time (default: the first)", parseDate)
    .option("--to <date>", "answers before this time (default: now)", parseDate)
    .option(`--by <grouping>`, `group by ${NPS_GROUPINGS.join(", ")}`, oneOf(NPS_GROUPINGS))
    .option("--json", "print JSON")
    .action((flags: PeriodFlags & { by?: NpsGrouping }) =>
      withDb(async (db) => {
        const ws = await getWorkspace(db, flags.workspace);
        const r = await npsReport(db, ws.id, { ...period(flags), ...(flags.by ? { by: flags.by } : {}) });
        print(Boolean(flags.json), r, () => formatNpsReport(r));
      }),
    );

  report
    .command("attribution")
    .description(
      "revenue attributed to messages, scenarios and channels (where revenue came from, not what messages added)",
    )
    .option("--workspace <name>", "workspace (default: default)", "default")
    .option(
      "--model <model>",
      `${ATTRIBUTION_MODELS.join(", ")} (default last_touch)`,
      oneOf(ATTRIBUTION_MODELS),
    )
    .option("--from <date>", "conversions from this time (default: the first)", parseDate)
    .option("--to <date>", "conversions before this time (default: now)", parseDate)
    .option("--json", "print JSON")
    .action((flags: PeriodFlags & { model?: AttributionModelName }) =>
      withDb(async (db) => {
        const ws = await getWorkspace(db, flags.workspace);
        const r = await attributionReport(db, ws.id, {
          ...period(flags),
          ...(flags.model ? { model: flags.model } : {}),
        });
        print(Boolean(flags.json), r, () => formatAttributionReport(r));
      }),
    );
}
