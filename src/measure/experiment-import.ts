// Import of an experiment run elsewhere (an offline mailing, a call list): who was in which arm, since when, and
// what each customer did (visit, conversion, spend), from one CSV file or an assignments file plus an outcomes
// file. Bad rows are reported by line and left out (assignment and outcome together, so a customer is never
// counted with a made-up zero); good rows are stored in one transaction, upserted by experiment and customer.
import { CsvFileError, type CsvProblem, inspectCsvFile, readCsvRecords } from "../ingest/csv-source.ts";
import type { Db } from "../store/db.ts";
import { type ExperimentMetric, type ExperimentRow, saveExperiment } from "../store/experiments.ts";
import type { Workspace } from "../store/workspaces.ts";
import {
  ARM_NAMES,
  CONVERSION_NAMES,
  CUSTOMER_NAMES,
  ExperimentFileError,
  findColumn,
  parseFlag,
  parseSpend,
  parseStart,
  SPEND_NAMES,
  VISIT_NAMES,
} from "./experiment-columns.ts";

export { ExperimentFileError } from "./experiment-columns.ts";

export interface ExperimentImportOptions {
  name: string;
  /** CSV file with one row per customer: customer (optional), arm, and possibly the outcomes */
  assignments: string;
  customerColumn?: string | undefined;
  armColumn?: string | undefined;
  controlArm: string;
  /** when every customer entered (default: now) */
  startedAt?: Date | undefined;
  startedAtColumn?: string | undefined;
  /** a separate outcomes file, joined by the customer column; several rows of a customer add up */
  outcomes?: string | undefined;
  outcomeCustomerColumn?: string | undefined;
  visitColumn?: string | undefined;
  conversionColumn?: string | undefined;
  spendColumn?: string | undefined;
  delimiter?: string | undefined;
  /** drop the experiment's earlier rows first (e.g. a corrected file with fewer customers) */
  replace?: boolean | undefined;
  now: Date;
}

export interface ExperimentImportSummary {
  experiment: string;
  workspace: string;
  created: boolean;
  /** how customers are identified: "column NAME" or "row number" */
  customersBy: string;
  columns: Record<string, string>;
  rowsRead: number;
  rowsImported: number;
  rejectedRows: number;
  errors: CsvProblem[];
  outcomeRowsRead: number;
  /** outcome rows of customers not in the assignments, left out */
  outcomeRowsUnmatched: number;
  arms: Record<string, number>;
  controlArm: string;
  metrics: ExperimentMetric[];
  /** customers already in the experiment from an earlier import, replaced rather than added */
  replacedCustomers: number;
  customers: number;
  linkedCustomers: number;
  seconds: number;
}

const MAX_ERRORS = 1000;

interface OutcomeColumns {
  visit: number;
  conversion: number;
  spend: number;
}

type Outcome = NonNullable<ExperimentRow["outcome"]>;

class Problems {
  readonly list: CsvProblem[] = [];
  count = 0;
  add(line: number, reason: string): void {
    this.count++;
    if (this.list.length < MAX_ERRORS) this.list.push({ line, reason });
  }
}

function outcomeColumns(header: string[], o: ExperimentImportOptions): OutcomeColumns {
  return {
    visit: findColumn(header, o.visitColumn, VISIT_NAMES, "--visit-column"),
    conversion: findColumn(header, o.conversionColumn, CONVERSION_NAMES, "--conversion-column"),
    spend: findColumn(header, o.spendColumn, SPEND_NAMES, "--spend-column"),
  };
}

function metricsOf(c: OutcomeColumns): ExperimentMetric[] {
  const m: ExperimentMetric[] = [];
  if (c.visit >= 0) m.push("visit");
  if (c.conversion >= 0) m.push("conversion");
  if (c.spend >= 0) m.push("spend");
  return m;
}

/** One row's outcome, or the reason it is bad. */
function readOutcome(f: string[], c: OutcomeColumns, header: string[]): Outcome | string {
  const cell = (i: number) => (i >= 0 ? (f[i] ?? "") : "");
  const visited = parseFlag(cell(c.visit));
  if (!visited.ok) return `${header[c.visit]}: ${visited.reason}`;
  const converted = parseFlag(cell(c.conversion));
  if (!converted.ok) return `${header[c.conversion]}: ${converted.reason}`;
  const spend = parseSpend(cell(c.spend));
  if (!spend.ok) return `${header[c.spend]}: ${spend.reason}`;
  return { visited: visited.value, converted: converted.value, spend: spend.value };
}

async function* dataRows(path: string, delimiter: string | undefined, problems: Problems) {
  const file = await inspectCsvFile(path, { delimiter });
  const records = readCsvRecords(file, { onProblem: (p) => problems.add(p.line, p.reason) });
  let header: string[] | undefined;
  for await (const rec of records) {
    if (!header) {
      header = rec.fields.map((h) => h.replace(/^\uFEFF/, "").trim());
      yield { header, fields: [] as string[], line: rec.line, isHeader: true };
      continue;
    }
    if (rec.fields.every((v) => v.trim() === "")) continue;
    yield { header, fields: rec.fields, line: rec.line, isHeader: false };
  }
  if (!header) throw new CsvFileError(`${path} is empty: no header row`);
}

export async function importExperiment(
  db: Db,
  workspace: Workspace,
  o: ExperimentImportOptions,
): Promise<ExperimentImportSummary> {
  const started = performance.now();
  const name = o.name.trim();
  if (name === "" || name.length > 200) throw new ExperimentFileError("--name: 1-200 characters");
  if (o.controlArm.trim() === "") throw new ExperimentFileError("--control-arm: the name of the control arm");
  if (o.startedAt && o.startedAtColumn)
    throw new ExperimentFileError("give --started-at or --started-at-column, not both");
  const problems = new Problems();
  const read = await readAssignments(o, problems);
  let outcomeRowsRead = 0;
  let outcomeRowsUnmatched = 0;
  let metrics = read.metrics;
  if (o.outcomes) {
    const joined = await joinOutcomes(o, read, problems);
    outcomeRowsRead = joined.rowsRead;
    outcomeRowsUnmatched = joined.unmatched;
    metrics = joined.metrics;
  }
  if (!read.rows.some((r) => r.isControl)) {
    const arms = [...new Set(read.rows.map((r) => r.arm))].slice(0, 20);
    throw new ExperimentFileError(
      `no customer is in the control arm '${o.controlArm}'; the arms in the file are: ${arms.map((a) => `'${a}'`).join(", ") || "none"}`,
    );
  }
  const saved = await saveExperiment(
    db,
    workspace.id,
    {
      name,
      controlArm: o.controlArm,
      metrics,
      source: {
        assignments: o.assignments,
        outcomes: o.outcomes ?? null,
        customersBy: read.customersBy,
        columns: read.columns,
      },
    },
    read.rows,
    { now: o.now, replace: o.replace ?? false },
  );
  const arms: Record<string, number> = {};
  for (const r of read.rows) arms[r.arm] = (arms[r.arm] ?? 0) + 1;
  problems.list.sort((a, b) => a.line - b.line);
  return {
    experiment: name,
    workspace: workspace.name,
    created: saved.created,
    customersBy: read.customersBy,
    columns: read.columns,
    rowsRead: read.rowsRead,
    rowsImported: read.rows.length,
    rejectedRows: problems.count,
    errors: problems.list,
    outcomeRowsRead,
    outcomeRowsUnmatched,
    arms,
    controlArm: o.controlArm,
    metrics: saved.experiment.metrics,
    replacedCustomers: saved.replaced,
    customers: saved.customers,
    linkedCustomers: saved.linkedCustomers,
    seconds: Math.round(performance.now() - started) / 1000,
  };
}

interface Assignments {
  rows: ExperimentRow[];
  /** customer key → line, for duplicate checks and joins */
  lines: Map<string, number>;
  rowsRead: number;
  customersBy: string;
  byRowNumber: boolean;
  columns: Record<string, string>;
  metrics: ExperimentMetric[];
}

interface AssignmentColumns {
  customer: number;
  arm: number;
  start: number;
  outcomes: OutcomeColumns | undefined;
}

function assignmentColumns(header: string[], o: ExperimentImportOptions): AssignmentColumns {
  const arm = findColumn(header, o.armColumn, ARM_NAMES, "--arm-column");
  if (arm < 0) {
    throw new ExperimentFileError(
      `no arm column (arm, variant, group, treatment); the file has: ${header.join(", ")}. Name it with --arm-column`,
    );
  }
  return {
    customer: findColumn(header, o.customerColumn, CUSTOMER_NAMES, "--customer-column"),
    arm,
    start: o.startedAtColumn ? findColumn(header, o.startedAtColumn, [], "--started-at-column") : -1,
    outcomes: o.outcomes ? undefined : outcomeColumns(header, o),
  };
}

function describeColumns(header: string[], c: AssignmentColumns): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (i: number, what: string) => {
    const n = header[i];
    if (i >= 0 && n !== undefined) out[n] = what;
  };
  put(c.customer, "customer");
  put(c.arm, "arm");
  put(c.start, "started at");
  if (c.outcomes) {
    put(c.outcomes.visit, "visit");
    put(c.outcomes.conversion, "conversion");
    put(c.outcomes.spend, "spend");
  }
  return out;
}

async function readAssignments(o: ExperimentImportOptions, problems: Problems): Promise<Assignments> {
  const rows: ExperimentRow[] = [];
  const lines = new Map<string, number>();
  let cols: AssignmentColumns | undefined;
  let header: string[] = [];
  let rowsRead = 0;
  for await (const r of dataRows(o.assignments, o.delimiter, problems)) {
    if (r.isHeader) {
      header = r.header;
      cols = assignmentColumns(header, o);
      continue;
    }
    if (!cols) continue;
    rowsRead++;
    const f = r.fields;
    const bad = (reason: string) => problems.add(r.line, reason);
    if (f.length < header.length) {
      bad(`the row has ${f.length} fields, the header has ${header.length}`);
      continue;
    }
    const key = cols.customer >= 0 ? (f[cols.customer] ?? "").trim() : String(rowsRead);
    if (key === "" || key.length > 200) {
      bad(
        `${header[cols.customer]}: the customer id is ${key === "" ? "empty" : "longer than 200 characters"}`,
      );
      continue;
    }
    const arm = (f[cols.arm] ?? "").trim();
    if (arm === "" || arm.length > 200) {
      bad(`${header[cols.arm]}: the arm is ${arm === "" ? "empty" : "longer than 200 characters"}`);
      continue;
    }
    let startedAt = o.startedAt ?? o.now;
    if (cols.start >= 0) {
      const s = parseStart(f[cols.start] ?? "", header[cols.start] ?? "");
      if (!s.ok) {
        bad(s.reason);
        continue;
      }
      startedAt = s.value;
    }
    let outcome: Outcome | undefined;
    if (cols.outcomes) {
      const out = readOutcome(f, cols.outcomes, header);
      if (typeof out === "string") {
        bad(out);
        continue;
      }
      outcome = out;
    }
    const earlier = lines.get(key);
    if (earlier !== undefined) {
      bad(`customer '${key}' is already in the file on line ${earlier}; a customer is in one arm only`);
      continue;
    }
    lines.set(key, r.line);
    rows.push({ customerKey: key, arm, isControl: arm === o.controlArm, startedAt, outcome });
  }
  if (!cols) throw new CsvFileError(`${o.assignments} is empty: no header row`);
  const byRowNumber = cols.customer < 0;
  return {
    rows,
    lines,
    rowsRead,
    byRowNumber,
    customersBy: byRowNumber ? "row number" : `column ${header[cols.customer]}`,
    columns: describeColumns(header, cols),
    metrics: cols.outcomes ? metricsOf(cols.outcomes) : [],
  };
}

/** Reads the outcomes file and attaches each customer's (summed) outcome to their assignment. */
async function joinOutcomes(
  o: ExperimentImportOptions,
  a: Assignments,
  problems: Problems,
): Promise<{ rowsRead: number; unmatched: number; metrics: ExperimentMetric[] }> {
  const path = o.outcomes ?? "";
  const byKey = new Map(a.rows.map((r) => [r.customerKey, r]));
  let header: string[] = [];
  let cols: OutcomeColumns | undefined;
  let customer = -1;
  let rowsRead = 0;
  let unmatched = 0;
  const dropped = new Set<string>();
  for await (const r of dataRows(path, o.delimiter, problems)) {
    if (r.isHeader) {
      header = r.header;
      cols = outcomeColumns(header, o);
      if (metricsOf(cols).length === 0) {
        throw new ExperimentFileError(
          `${path}: no outcome column (visit, conversion, spend); name them with --visit-column, --conversion-column, --spend-column`,
        );
      }
      customer = findColumn(
        header,
        o.outcomeCustomerColumn ?? o.customerColumn,
        CUSTOMER_NAMES,
        "--outcome-customer-column",
      );
      if (customer < 0 !== a.byRowNumber) {
        throw new ExperimentFileError(
          customer < 0
            ? `${path}: no customer column to join the outcomes on; name it with --outcome-customer-column`
            : `${path}: the assignments have no customer column, so outcomes cannot be joined by customer; name it with --customer-column`,
        );
      }
      for (const row of a.rows) row.outcome = { visited: false, converted: false, spend: 0 };
      continue;
    }
    if (!cols) continue;
    rowsRead++;
    const key = customer >= 0 ? (r.fields[customer] ?? "").trim() : String(rowsRead);
    const target = byKey.get(key);
    if (!target?.outcome || dropped.has(key)) {
      if (!dropped.has(key)) unmatched++;
      continue;
    }
    const out = readOutcome(r.fields, cols, header);
    if (typeof out === "string") {
      // The customer's outcome is unknown: leaving them in would count them as a non-converter.
      problems.add(r.line, `${out} (outcomes of customer '${key}'; the customer is left out)`);
      dropped.add(key);
      continue;
    }
    target.outcome = {
      visited: target.outcome.visited || out.visited,
      converted: target.outcome.converted || out.converted,
      spend: Math.round((target.outcome.spend + out.spend) * 10_000) / 10_000,
    };
  }
  if (dropped.size > 0) a.rows = a.rows.filter((r) => !dropped.has(r.customerKey));
  return { rowsRead, unmatched, metrics: cols ? metricsOf(cols) : [] };
}
