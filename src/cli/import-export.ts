// `tact import customers|events FILE` and `tact export customers`: flags and the mapping file are checked here,
// the work is done by src/ingest/csv-import.ts and csv-export.ts. A progress bar is drawn when stderr is a
// terminal; a summary ends every import (JSON with --json).
import { once } from "node:events";
import { createWriteStream, readFileSync } from "node:fs";
import type { Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { createGzip } from "node:zlib";
import cliProgress from "cli-progress";
import { type Command, InvalidArgumentError, Option } from "commander";
import { z } from "zod";
import { type ExportFormat, exportCustomers } from "../ingest/csv-export.ts";
import {
  CsvMappingError,
  type ImportKind,
  type ImportSummary,
  importCsv,
  PRESETS,
  type Preset,
} from "../ingest/csv-import.ts";
import { getWorkspace } from "../store/workspaces.ts";
import { UsageError, withDb } from "./context.ts";

interface ImportFlags {
  workspace: string;
  map?: Record<string, string>;
  mapping?: string;
  delimiter?: string;
  preset?: Preset;
  eventName?: string;
  chunkSize?: number;
  restart?: boolean;
  json?: boolean;
}

const SHOWN_ERRORS = 20;
const LOG_EVERY_MS = 10_000;

const mappingFileSchema = z.union([
  z
    .object({
      columns: z.record(z.string(), z.string()),
      eventName: z.string().min(1).max(200).optional(),
      delimiter: z.string().optional(),
    })
    .strict(),
  z.record(z.string(), z.string()),
]);

function collectMap(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const eq = value.lastIndexOf("=");
  if (eq <= 0 || eq === value.length - 1)
    throw new InvalidArgumentError("write it as COLUMN=FIELD, e.g. 'E-mail=email'");
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

function parseDelimiter(v: string): string {
  const d = v === "tab" || v === "\\t" ? "\t" : v;
  if (d.length !== 1 || /[\r\n"]/.test(d)) throw new InvalidArgumentError("one character, or 'tab'");
  return d;
}

function parseChunkSize(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 50_000)
    throw new InvalidArgumentError("a whole number from 1 to 50000");
  return n;
}

const FIELDS_HELP = `
Fields for --map COLUMN=FIELD: userId, anonymousId, email, phone, timestamp, ignore;
customers also: telegramChatId, timezone, locale, preferredChannel, consent.CHANNEL (yes/no), traits (JSON),
trait.NAME[:TYPE]; events also: event, messageId, property.NAME[:TYPE]. TYPE: string, number, integer, boolean,
date, json. Columns not mapped are recognised by name (user_id, customer_id, email, phone, email_consent, event,
timestamp, …); the others become traits (customers) or properties (events). The same rows imported again are
not stored twice. An interrupted import continues where it stopped when run again.
A mapping file is JSON: {"columns": {"E-mail": "email", "Sum": "property.revenue:number"}, "eventName": "…"}.`;

export function registerImportExport(program: Command): void {
  const imp = program
    .command("import")
    .description("import customers or events from a CSV file (plain or gzip)");
  for (const kind of ["customers", "events"] as const) {
    const cmd = imp
      .command(`${kind} <file>`)
      .description(
        kind === "customers" ? "import customer profiles (identify)" : "import events such as orders (track)",
      )
      .requiredOption("--workspace <name>", "workspace")
      .option("--map <column=field>", "map a column to a field (repeatable)", collectMap)
      .option("--mapping <file.json>", "read the column mapping from a JSON file")
      .option(
        "--delimiter <char>",
        "field delimiter (default: sniffed from the header; 'tab' for tabs)",
        parseDelimiter,
      )
      .option("--restart", "read the file from its start even if an earlier import of it was interrupted")
      .option("--chunk-size <n>", "messages per transaction (default 2000)", parseChunkSize)
      .option("--json", "print the summary as JSON")
      .addHelpText("after", FIELDS_HELP);
    if (kind === "events") {
      cmd
        .addOption(new Option("--preset <name>", "a known file layout").choices([...PRESETS]))
        .option("--event-name <name>", "the event name of every row (when the file has no event column)");
    }
    cmd.action((file: string, flags: ImportFlags) => runImport(kind, file, flags));
  }

  program
    .command("export")
    .description("export data")
    .command("customers")
    .description("export all customers of a workspace with their computed attributes")
    .requiredOption("--workspace <name>", "workspace")
    .addOption(new Option("--format <format>", "output format").choices(["csv", "jsonl"]).default("csv"))
    .option("-o, --output <file>", "write to this file instead of stdout (compressed when it ends in .gz)")
    .action((flags: { workspace: string; format: ExportFormat; output?: string }) =>
      withDb(async (db) => {
        const ws = await getWorkspace(db, flags.workspace);
        const { stream, done } = await openOutput(flags.output);
        const r = await exportCustomers(db, ws.id, stream, { format: flags.format });
        await done();
        if (flags.output) process.stderr.write(`exported ${r.customers} customers to ${flags.output}\n`);
      }),
    );
}

function readMappingFile(path: string): {
  map?: Record<string, string>;
  eventName?: string;
  delimiter?: string;
} {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new UsageError(`--mapping ${path}: ${(err as Error).message}`);
  }
  const parsed = mappingFileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new UsageError(
      `--mapping ${path}: expected {"columns": {"COLUMN": "FIELD", …}} or {"COLUMN": "FIELD", …}`,
    );
  }
  const m = parsed.data;
  if ("columns" in m && typeof m.columns === "object") {
    const c = m as { columns: Record<string, string>; eventName?: string; delimiter?: string };
    return {
      map: c.columns,
      ...(c.eventName ? { eventName: c.eventName } : {}),
      ...(c.delimiter ? { delimiter: parseDelimiter(c.delimiter) } : {}),
    };
  }
  return { map: m as Record<string, string> };
}

async function runImport(kind: ImportKind, file: string, flags: ImportFlags): Promise<void> {
  const fromFile = flags.mapping ? readMappingFile(flags.mapping) : { map: {} };
  const map = { ...fromFile.map, ...flags.map };
  if (flags.preset && Object.keys(map).length > 0)
    throw new UsageError("--preset fixes the columns: drop --map/--mapping");
  if (flags.preset && flags.eventName)
    throw new UsageError("--preset names the events itself: drop --event-name");
  const eventName = flags.eventName ?? fromFile.eventName;
  if (eventName !== undefined && (eventName.trim() === "" || eventName.length > 200)) {
    throw new UsageError("--event-name: 1-200 characters");
  }

  const abort = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write("\nstopping after the current chunk (Ctrl-C again to quit at once)…\n");
    abort.abort();
  };
  process.on("SIGINT", onSigint);
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar({
        stream: process.stderr,
        format: "importing {bar} {percentage}% | {rows} rows | {rate} rows/s | ETA {eta_formatted}",
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 50,
      })
    : undefined;
  let started = performance.now();
  // Without a terminal (a log file, cron): a line at the start and one every LOG_EVERY_MS, unless --json.
  const log = !bar && !flags.json ? (line: string) => process.stderr.write(`${line}\n`) : undefined;
  let lastLog = performance.now();
  try {
    const summary = await withDb(async (db) => {
      const ws = await getWorkspace(db, flags.workspace);
      try {
        return await importCsv(db, ws, file, {
          kind,
          preset: flags.preset,
          map,
          eventName,
          delimiter: flags.delimiter ?? fromFile.delimiter,
          resume: !flags.restart,
          signal: abort.signal,
          ...(flags.chunkSize ? { chunkSize: flags.chunkSize } : {}),
          onStart: ({ bytesTotal, resumeAfterRow }) => {
            started = performance.now();
            bar?.start(bytesTotal, 0, { rows: 0, rate: 0 });
            const resumed =
              resumeAfterRow > 0 ? `, continuing after row ${n(resumeAfterRow)} of an interrupted run` : "";
            log?.(`importing ${file} (${n(bytesTotal)} bytes) into workspace ${ws.name}${resumed}`);
          },
          onProgress: (p) => {
            const seconds = (performance.now() - started) / 1000;
            const rate = Math.round(p.rowsRead / seconds);
            bar?.update(p.bytesRead, { rows: n(p.rowsRead), rate: n(rate) });
            if (log && performance.now() - lastLog > LOG_EVERY_MS) {
              lastLog = performance.now();
              const pct = p.bytesTotal > 0 ? Math.floor((100 * p.bytesRead) / p.bytesTotal) : 0;
              log(
                `  ${n(p.rowsRead)} rows read (${pct}%), ${n(p.accepted)} messages stored, ${n(rate)} rows/s`,
              );
            }
          },
        });
      } catch (err) {
        if (err instanceof CsvMappingError) throw new UsageError(err.message);
        throw err;
      }
    });
    bar?.stop();
    if (flags.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else process.stdout.write(formatSummary(summary));
    if (!summary.complete) process.exitCode = 130;
  } finally {
    bar?.stop();
    process.off("SIGINT", onSigint);
  }
}

const n = (x: number) => x.toLocaleString("en");

export function formatSummary(s: ImportSummary): string {
  const lines: string[] = [];
  const what = s.preset ? `${s.kind}, preset ${s.preset}` : s.kind;
  lines.push(
    `${s.complete ? "Imported" : "Partly imported"} ${s.file} into workspace ${s.workspace} (${what})`,
  );
  lines.push(`  rows read        ${n(s.rowsRead)}`);
  lines.push(`  rows imported    ${n(s.rowsImported)}`);
  lines.push(`  rows rejected    ${n(s.rejectedRows)}`);
  const skipped = Object.entries(s.skippedRows);
  const skippedTotal = skipped.reduce((a, [, c]) => a + c, 0);
  lines.push(
    `  rows skipped     ${n(skippedTotal)}${skipped.length ? `  (${skipped.map(([r, c]) => `${r}: ${n(c)}`).join("; ")})` : ""}`,
  );
  const m = s.messages;
  lines.push(
    `  messages         ${n(m.accepted)} stored, ${n(m.duplicates)} already imported before, ${n(m.rejected)} rejected`,
  );
  const events = Object.entries(s.byEvent);
  if (events.length) lines.push(`  by event         ${events.map(([e, c]) => `${e} ${n(c)}`).join(", ")}`);
  if (s.ignoredColumns.length) lines.push(`  ignored columns  ${s.ignoredColumns.join(", ")}`);
  lines.push(`  time             ${s.seconds.toFixed(1)} s, ${n(s.rowsPerSecond)} rows/s`);
  if (s.errors.length > 0) {
    const shown = s.errors.slice(0, SHOWN_ERRORS);
    lines.push(
      `Rejected rows${s.rejectedRows > shown.length ? ` (first ${shown.length} of ${n(s.rejectedRows)})` : ""}:`,
    );
    for (const e of shown) lines.push(`  line ${e.line}: ${e.reason}`);
  }
  if (!s.complete)
    lines.push("Stopped before the end: run the same command again to continue where it stopped.");
  return `${lines.join("\n")}\n`;
}

/** stdout, or a file (gzip when it ends in .gz); done() flushes and closes it. */
async function openOutput(
  path: string | undefined,
): Promise<{ stream: Writable; done: () => Promise<void> }> {
  if (!path) {
    process.stdout.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE") process.exit(0); // the reader (e.g. `| head`) has had enough
      throw err;
    });
    return { stream: process.stdout, done: async () => undefined };
  }
  const file = createWriteStream(path);
  try {
    await once(file, "open");
  } catch (err) {
    throw new UsageError(`cannot write ${path}: ${(err as Error).message}`);
  }
  if (!path.endsWith(".gz")) {
    return {
      stream: file,
      done: async () => {
        file.end();
        await finished(file);
      },
    };
  }
  const gzip = createGzip();
  gzip.pipe(file);
  return {
    stream: gzip,
    done: async () => {
      gzip.end();
      await finished(file);
    },
  };
}
