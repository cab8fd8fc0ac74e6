// Measurement commands: `tact experiments import|list`, `tact report experiment NAME`, `tact report scenarios`,
// `tact value fit|show` and `tact control-group show|rotate`.
// Flags are checked here; the work is done in src/measure/.
import { type Command, InvalidArgumentError } from "commander";
import { readsValue, recomputeWorkspace } from "../engine/strategy-runtime.ts";
import { parseTimestamp } from "../ingest/csv-values.ts";
import {
  ExperimentFileError,
  type ExperimentImportSummary,
  importExperiment,
} from "../measure/experiment-import.ts";
import { experimentReport } from "../measure/experiment-report.ts";
import { formatExperimentReport } from "../measure/experiment-report-text.ts";
import { ScenarioEffectInputError, scenarioEffects } from "../measure/scenario-effect.ts";
import { formatScenarioEffects } from "../measure/scenario-effect-text.ts";
import { fitCustomerValue } from "../measure/value-fit.ts";
import { formatValueFit, formatValueShow } from "../measure/value-text.ts";
import { currentValueModel, valueOverview } from "../store/customer-value.ts";
import { findExperiment, listExperiments } from "../store/experiments.ts";
import { getWorkspace, NotFoundError } from "../store/workspaces.ts";
import { print, UsageError, withDb } from "./context.ts";
import { registerControlGroup } from "./control-group.ts";
import { registerMeasureReports } from "./measure-reports.ts";

const WORKSPACE_HELP = "workspace (default: default)";

function parseDate(v: string): Date {
  const d = parseTimestamp(v);
  if (!d.ok) throw new InvalidArgumentError(d.reason);
  return d.value;
}

/** "52w", "365d" or a number of days. */
export function parseHorizon(v: string): number {
  const m = /^(\d{1,4})([dw]?)$/.exec(v.trim());
  const days = m ? Number(m[1]) * (m[2] === "w" ? 7 : 1) : Number.NaN;
  if (!(days >= 1 && days <= 3660))
    throw new InvalidArgumentError("a horizon like 52w or 365d (1 day to 10 years)");
  return days;
}

function parseResamples(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 100 || n > 100_000)
    throw new InvalidArgumentError("a whole number from 100 to 100000");
  return n;
}

interface ImportFlags {
  workspace: string;
  name: string;
  assignments: string;
  customerColumn?: string;
  armColumn?: string;
  controlArm: string;
  startedAt?: Date;
  startedAtColumn?: string;
  outcomes?: string;
  outcomeCustomerColumn?: string;
  visitColumn?: string;
  conversionColumn?: string;
  spendColumn?: string;
  delimiter?: string;
  replace?: boolean;
  json?: boolean;
}

const IMPORT_HELP = `
One CSV row per customer: the arm, optionally the customer's id and start time, and the outcomes (visit,
conversion: 0/1, yes/no or a count; spend: an amount ≥ 0, "$1,000" accepted; blank = none). Columns are found by
name (customer_id/user_id, arm/variant/group, visit, conversion, spend) or named by the flags. Without a customer
column, customers are identified by their data row number. With --outcomes, outcomes come from a second file joined
on the customer column (several rows of a customer add up; customers without a row had no outcome).
Re-importing an experiment replaces its customers' rows (nothing is counted twice); --replace drops the rows of
customers no longer in the file. Bad rows are reported by line and left out.
Example (Hillstrom's e-mail experiment):
  tact experiments import --name hillstrom --assignments hillstrom.csv --arm-column segment --control-arm 'No E-Mail'`;

export function registerMeasure(program: Command): void {
  const experiments = program
    .command("experiments")
    .description("experiments run outside Tact, measured by Tact");
  experiments
    .command("import")
    .description("import an experiment's arms and outcomes from CSV")
    .option("--workspace <name>", WORKSPACE_HELP, "default")
    .requiredOption("--name <name>", "the experiment's name (re-importing the same name updates it)")
    .requiredOption("--assignments <file.csv>", "one row per customer with the arm")
    .requiredOption("--control-arm <arm>", "the arm that got nothing (the control group), e.g. 'No E-Mail'")
    .option(
      "--customer-column <column>",
      "the customer id column (default: found by name, else the row number)",
    )
    .option("--arm-column <column>", "the arm column (default: arm, variant, group or treatment)")
    .option(
      "--started-at <date>",
      "when the experiment started, for every customer (default: now)",
      parseDate,
    )
    .option("--started-at-column <column>", "when each customer entered")
    .option("--outcomes <file.csv>", "outcomes in a separate file, joined on the customer column")
    .option("--outcome-customer-column <column>", "the customer column of the outcomes file")
    .option("--visit-column <column>", "visited (0/1)")
    .option("--conversion-column <column>", "converted (0/1)")
    .option("--spend-column <column>", "money spent (≥ 0)")
    .option("--delimiter <char>", "field delimiter (default: sniffed from the header)")
    .option("--replace", "drop the experiment's earlier rows first")
    .option("--json", "print the summary as JSON")
    .addHelpText("after", IMPORT_HELP)
    .action((flags: ImportFlags) =>
      withDb(async (db) => {
        const ws = await getWorkspace(db, flags.workspace);
        try {
          const s = await importExperiment(db, ws, { ...flags, now: new Date() });
          print(Boolean(flags.json), s, () => formatImport(s));
        } catch (err) {
          // A mapping that does not fit the file is wrong usage (exit 2); an unreadable file or a conflicting
          // earlier import fails the command (exit 1).
          if (err instanceof ExperimentFileError) throw new UsageError(err.message);
          throw err;
        }
      }),
    );
  experiments
    .command("list")
    .option("--workspace <name>", WORKSPACE_HELP, "default")
    .option("--json", "print JSON")
    .action((flags: { workspace: string; json?: boolean }) =>
      withDb(async (db) => {
        const ws = await getWorkspace(db, flags.workspace);
        const list = await listExperiments(db, ws.id);
        print(Boolean(flags.json), list, () =>
          list.map((e) => `${e.name}\tcontrol '${e.controlArm}'\t${e.metrics.join(",")}`).join("\n"),
        );
      }),
    );

  // `tact report` may also be registered by another module (the metrics tree): add to it rather than replace it.
  const report =
    program.commands.find((c) => c.name() === "report") ?? program.command("report").description("reports");
  registerMeasureReports(report);
  report
    .command("experiment <name>")
    .description("per-arm rates and spend, uplift of each arm over the control with 95% CI and p-value")
    .option("--workspace <name>", WORKSPACE_HELP, "default")
    .option(
      "--bootstrap [resamples]",
      "add a bootstrap 95% CI of the spend difference (default 2000)",
      parseResamples,
    )
    .option("--seed <n>", "seed of the bootstrap (default 1)", (v) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n)) throw new InvalidArgumentError("a whole number");
      return n;
    })
    .option("--json", "print JSON")
    .action(
      (
        name: string,
        flags: { workspace: string; bootstrap?: number | true; seed?: number; json?: boolean },
      ) =>
        withDb(async (db) => {
          const ws = await getWorkspace(db, flags.workspace);
          const experiment = await findExperiment(db, ws.id, name);
          if (!experiment) throw new NotFoundError(`no experiment '${name}' in workspace ${ws.name}`);
          const resamples = flags.bootstrap === true ? 2000 : (flags.bootstrap ?? 0);
          const r = await experimentReport(db, ws.id, experiment, {
            bootstrapResamples: resamples,
            ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
          });
          print(Boolean(flags.json), r, () => formatExperimentReport(r).trimEnd());
        }),
    );

  report
    .command("scenarios")
    .description(
      "incremental effect of the strategy, each scenario and each variant against their control groups",
    )
    .option("--workspace <name>", WORKSPACE_HELP, "default")
    .option("--scenario <name>", "only this scenario (the whole strategy is still shown)")
    .option("--from <date>", "entries from this time (default: the first)", parseDate)
    .option("--to <date>", "entries before this time, and outcomes up to it (default: now)", parseDate)
    .option("--bootstrap", "add a bootstrap 95% CI of each revenue difference (2,000 resamples, seed 1)")
    .option("--json", "print JSON")
    .action(
      (flags: {
        workspace: string;
        scenario?: string;
        from?: Date;
        to?: Date;
        bootstrap?: boolean;
        json?: boolean;
      }) =>
        withDb(async (db) => {
          const ws = await getWorkspace(db, flags.workspace);
          try {
            const r = await scenarioEffects(db, ws.id, {
              to: flags.to ?? new Date(),
              ...(flags.from ? { from: flags.from } : {}),
              ...(flags.scenario !== undefined ? { scenario: flags.scenario } : {}),
              bootstrap: Boolean(flags.bootstrap),
            });
            print(Boolean(flags.json), r, () => formatScenarioEffects(r).trimEnd());
          } catch (err) {
            if (err instanceof ScenarioEffectInputError)
              throw new UsageError(`--${err.field}: ${err.message}`);
            throw err;
          }
        }),
    );

  registerValue(program);
  registerControlGroup(program);
}

function registerValue(program: Command): void {
  const value = program
    .command("value")
    .description("customer value: RFM, BG/NBD + Gamma-Gamma, predicted CLV");
  value
    .command("fit")
    .description("fit the value models on the workspace's orders and store every customer's value")
    .option("--workspace <name>", WORKSPACE_HELP, "default")
    .option("--calibration-end <date>", "fit on orders up to this day, inclusive (default: today)", parseDate)
    .option("--horizon <span>", "prediction horizon, e.g. 52w or 365d (default 365d)", parseHorizon)
    .option("--discount-rate <rate>", "annual discount rate of CLV, e.g. 0.1 (default 0)", (v) => {
      const n = Number(v);
      if (!(n >= 0 && n < 10)) throw new InvalidArgumentError("a rate from 0 to 10, e.g. 0.1");
      return n;
    })
    .option("--json", "print JSON")
    .action(
      (flags: {
        workspace: string;
        calibrationEnd?: Date;
        horizon?: number;
        discountRate?: number;
        json?: boolean;
      }) =>
        withDb(async (db) => {
          const ws = await getWorkspace(db, flags.workspace);
          const now = new Date();
          const r = await fitCustomerValue(db, ws.id, {
            now,
            ...(flags.calibrationEnd ? { calibrationEnd: flags.calibrationEnd } : {}),
            ...(flags.horizon ? { horizonDays: flags.horizon } : {}),
            ...(flags.discountRate !== undefined ? { annualDiscountRate: flags.discountRate } : {}),
          });
          // Segments and stages that read the value (clv_percentile, p_alive, …) follow the new fit at once.
          const memberships = await recomputeWorkspace(db, ws.id, now, readsValue);
          const out = memberships ? { ...r, memberships } : r;
          print(Boolean(flags.json), out, () =>
            memberships
              ? `${formatValueFit(r)}\nSegments and stages reading the value recomputed: ${memberships.customers} customers.`
              : formatValueFit(r),
          );
        }),
    );
  value
    .command("show")
    .description("the current value model and how customers are spread over it")
    .option("--workspace <name>", WORKSPACE_HELP, "default")
    .option("--json", "print JSON")
    .action((flags: { workspace: string; json?: boolean }) =>
      withDb(async (db) => {
        const ws = await getWorkspace(db, flags.workspace);
        const model = await currentValueModel(db, ws.id);
        if (!model) throw new NotFoundError(`no value model in workspace ${ws.name}: run tact value fit`);
        const overview = await valueOverview(db, ws.id);
        print(Boolean(flags.json), { model, overview }, () => formatValueShow(model, overview));
      }),
    );
}

function formatImport(s: ExperimentImportSummary): string {
  const n = (x: number) => x.toLocaleString("en");
  const lines = [
    `${s.created ? "Imported" : "Updated"} experiment ${s.experiment} in workspace ${s.workspace}`,
    `  customers by     ${s.customersBy}`,
    `  columns          ${Object.entries(s.columns)
      .map(([c, w]) => `${c} → ${w}`)
      .join(", ")}`,
    `  rows read        ${n(s.rowsRead)}`,
    `  rows imported    ${n(s.rowsImported)}${s.replacedCustomers ? ` (${n(s.replacedCustomers)} replaced rows of an earlier import)` : ""}`,
    `  rows rejected    ${n(s.rejectedRows)}`,
    `  arms             ${Object.entries(s.arms)
      .map(([a, c]) => `${a}${a === s.controlArm ? " (control)" : ""} ${n(c)}`)
      .join(", ")}`,
    `  outcomes         ${s.metrics.join(", ") || "none"}`,
    `  customers        ${n(s.customers)} in the experiment, ${n(s.linkedCustomers)} of them known customers`,
  ];
  if (s.outcomeRowsRead > 0)
    lines.push(
      `  outcome rows     ${n(s.outcomeRowsRead)} read, ${n(s.outcomeRowsUnmatched)} of customers not in the experiment`,
    );
  if (s.errors.length > 0) {
    lines.push(`Rejected rows${s.rejectedRows > 20 ? ` (first 20 of ${n(s.rejectedRows)})` : ""}:`);
    for (const e of s.errors.slice(0, 20)) lines.push(`  line ${e.line}: ${e.reason}`);
  }
  return lines.join("\n");
}
