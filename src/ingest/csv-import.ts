// CSV import of customers and events: reads the file as a stream, turns rows into Segment messages (by a column
// mapping or a preset) and feeds them in chunks to the one ingestion pipeline, which validates, dedupes by
// messageId and stores. Bad rows are reported with their line numbers; good rows are imported. Progress is kept in
// `import_progress` so an interrupted import resumes where it stopped; correctness never depends on it, because
// every messageId is derived from the file's content and a re-run is deduplicated by the pipeline.
import { createHash } from "node:crypto";
import { realpathSync } from "node:fs";
import type { Db } from "../store/db.ts";
import { readProgress, writeProgress } from "../store/import-progress.ts";
import { analyze } from "../store/statistics.ts";
import type { Workspace } from "../store/workspaces.ts";
import { CdnowConverter } from "./csv-cdnow.ts";
import type { Converter, ConverterOutput, Emitted, ImportKind } from "./csv-mapping.ts";
import { OnlineRetailConverter } from "./csv-online-retail.ts";
import { MappedConverter } from "./csv-rows.ts";
import { CsvFileError, type CsvProblem, inspectCsvFile, readCsvRecords } from "./csv-source.ts";
import { ingestMessages } from "./ingest.ts";

export { CsvMappingError, type ImportKind, MissingColumnError } from "./csv-mapping.ts";
export { CsvFileError } from "./csv-source.ts";

export const PRESETS = ["online-retail", "cdnow"] as const;
export type Preset = (typeof PRESETS)[number];

export interface ImportOptions {
  kind: ImportKind;
  preset?: Preset | undefined;
  /** column → field; see parseTarget in csv-mapping.ts */
  map?: Record<string, string> | undefined;
  eventName?: string | undefined;
  delimiter?: string | undefined;
  /** messages per call of the pipeline (one transaction each) */
  chunkSize?: number;
  /** stop after this many data rows, as an interrupted import would (nothing held back is sent) */
  limitRows?: number;
  /** stop as soon as possible, keeping what is committed; the next run resumes */
  signal?: AbortSignal;
  /** false: ignore an earlier interrupted run and read the file from the start (dedupe still applies) */
  resume?: boolean;
  onStart?: (info: { bytesTotal: number; resumeAfterRow: number }) => void;
  onProgress?: (p: ImportProgress) => void;
  now?: () => Date;
}

export interface ImportProgress {
  rowsRead: number;
  bytesRead: number;
  bytesTotal: number;
  accepted: number;
  rejectedRows: number;
}

export interface ImportSummary {
  file: string;
  kind: ImportKind;
  preset: Preset | null;
  workspace: string;
  /** false when the import stopped early (interrupted or limited); run it again to finish */
  complete: boolean;
  /** rows of this file imported by an earlier, interrupted run and not read again */
  resumedAfterRow: number;
  rowsRead: number;
  /** rows whose message is now stored (by this run or an earlier one) */
  rowsImported: number;
  rejectedRows: number;
  skippedRows: Record<string, number>;
  messages: { sent: number; accepted: number; duplicates: number; rejected: number };
  /** messages sent per event name ("identify" for profiles), not counting rejected ones */
  byEvent: Record<string, number>;
  /** the first MAX_ERRORS bad rows, by line */
  errors: CsvProblem[];
  columns: Record<string, string>;
  ignoredColumns: string[];
  delimiter: string;
  seconds: number;
  rowsPerSecond: number;
}

const MAX_ERRORS = 1000;
const DEFAULT_CHUNK = 2000;
const RESUMED = "imported by an earlier, interrupted run";

interface Chunk {
  items: Emitted[];
  /** every data row up to this ordinal is handled once this chunk is committed */
  safeRow: number;
}

export async function importCsv(
  db: Db,
  workspace: Workspace,
  path: string,
  opts: ImportOptions,
): Promise<ImportSummary> {
  const now = opts.now ?? (() => new Date());
  const started = performance.now();
  const file = await inspectCsvFile(path, { delimiter: opts.delimiter });
  const chunkSize = Math.max(1, opts.chunkSize ?? DEFAULT_CHUNK);

  const errors: CsvProblem[] = [];
  let rejectedRows = 0;
  const skipped: Record<string, number> = {};
  const messages = { sent: 0, accepted: 0, duplicates: 0, rejected: 0 };
  const byEvent: Record<string, number> = {};
  let rowsImported = 0;
  let rowsRead = 0;
  let bytesRead = 0;

  const reject = (line: number, reason: string, rows = 1) => {
    rejectedRows += rows;
    if (errors.length < MAX_ERRORS) errors.push({ line, reason });
  };
  let buffer: Emitted[] = [];
  const out: ConverterOutput = {
    emit: (e) => buffer.push(e),
    reject,
    skip: (reason, rows = 1) => {
      skipped[reason] = (skipped[reason] ?? 0) + rows;
    },
  };

  const records = readCsvRecords(file, {
    onProblem: (p) => reject(p.line, p.reason),
    onBytes: (n) => {
      bytesRead += n;
    },
  });
  const report = () => {
    opts.onProgress?.({
      rowsRead,
      bytesRead,
      bytesTotal: file.size,
      accepted: messages.accepted,
      rejectedRows,
    });
  };
  let stopped = false;
  let resumeAfter = 0;
  let converter: Converter;
  try {
    const first = await records.next();
    if (first.done) throw new CsvFileError(`${path} is empty: no header row`);
    const header = first.value.fields;
    converter =
      opts.preset === "online-retail"
        ? new OnlineRetailConverter(header)
        : opts.preset === "cdnow"
          ? new CdnowConverter(header)
          : new MappedConverter(header, {
              kind: opts.kind,
              map: opts.map,
              eventName: opts.eventName,
              defaultCountry: workspace.settings.default_country,
            });

    const sourceKey = sourceKeyOf(file, opts, converter.signature);
    const earlier = await readProgress(db, workspace.id, sourceKey);
    resumeAfter = opts.resume !== false && earlier && !earlier.finished ? earlier.rowsDone : 0;
    opts.onStart?.({ bytesTotal: file.size, resumeAfterRow: resumeAfter });

    const send = async (chunk: Chunk) => {
      if (chunk.items.length > 0) {
        const result = await ingestMessages(
          db,
          workspace,
          chunk.items.map((i) => i.message),
          { receivedAt: now() },
        );
        const bad = new Set<number>();
        for (const r of result.rejected) {
          const item = chunk.items[r.index];
          if (!item) continue;
          bad.add(r.index);
          const what = item.rows > 1 ? `${item.label} of ${item.rows} rows: ` : "";
          reject(item.line, `${what}${r.path ? `${r.path}: ` : ""}${r.reason}`, item.rows);
        }
        messages.sent += chunk.items.length;
        messages.accepted += result.accepted;
        messages.duplicates += result.duplicates;
        messages.rejected += result.rejected.length;
        chunk.items.forEach((item, i) => {
          if (bad.has(i)) return;
          rowsImported += item.rows;
          byEvent[item.label] = (byEvent[item.label] ?? 0) + 1;
        });
      }
      await writeProgress(db, workspace.id, sourceKey, chunk.safeRow, false);
    };

    // One chunk is stored while the next one is read and converted.
    let inflight: Promise<void> = Promise.resolve();
    let failure: { error: unknown } | undefined;
    let lastOrdinal = 0;
    const cut = async () => {
      const held = converter.heldFrom() ?? Number.POSITIVE_INFINITY;
      const safeRow = Math.max(resumeAfter, Math.min(held, lastOrdinal + 1) - 1);
      const chunk: Chunk = { items: buffer, safeRow };
      buffer = [];
      await inflight;
      if (failure) throw failure.error;
      inflight = send(chunk).catch((error: unknown) => {
        failure = { error };
      });
    };

    for await (const rec of records) {
      if (opts.signal?.aborted || (opts.limitRows !== undefined && rowsRead >= opts.limitRows)) {
        stopped = true;
        break;
      }
      rowsRead++;
      lastOrdinal = rowsRead;
      if ((rowsRead & 1023) === 0) report(); // the progress bar limits its own redraws
      if (rowsRead <= resumeAfter) {
        out.skip(RESUMED);
        continue;
      }
      converter.push(rec, rowsRead, out);
      if (buffer.length >= chunkSize) await cut();
    }
    if (!stopped) converter.end(out);
    await cut();
    await inflight;
    if (failure) throw failure.error;
    if (!stopped) {
      await writeProgress(db, workspace.id, sourceKey, rowsRead, true);
      await analyze(db);
    }
  } finally {
    await records.return(undefined);
  }
  report();

  errors.sort((a, b) => a.line - b.line);
  const seconds = (performance.now() - started) / 1000;
  return {
    file: path,
    kind: opts.kind,
    preset: opts.preset ?? null,
    workspace: workspace.name,
    complete: !stopped,
    resumedAfterRow: resumeAfter,
    rowsRead,
    rowsImported,
    rejectedRows,
    skippedRows: skipped,
    messages,
    byEvent,
    errors,
    columns: converter.columns,
    ignoredColumns: converter.ignored,
    delimiter: file.delimiter,
    seconds: Math.round(seconds * 1000) / 1000,
    rowsPerSecond: Math.round(rowsRead / Math.max(seconds, 0.001)),
  };
}

/** The same file (path, size, modification time) imported the same way. */
function sourceKeyOf(
  file: { path: string; size: number; mtimeMs: number },
  opts: ImportOptions,
  signature: string,
): string {
  let real = file.path;
  try {
    real = realpathSync(file.path);
  } catch {
    // the file was checked readable a moment ago; keep the given path
  }
  const identity = JSON.stringify([
    real,
    file.size,
    Math.trunc(file.mtimeMs),
    opts.kind,
    opts.preset ?? null,
    signature,
  ]);
  return `csv:${createHash("sha256").update(identity).digest("hex")}`;
}
