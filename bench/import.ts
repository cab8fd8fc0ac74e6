// CSV import benchmark: the reference shop file (UCI Online Retail, 541,909 rows) through `importCsv` with the
// online-retail preset into a fresh database, beside its natural limit measured in the same run: reading and
// parsing the same file without any database work. Also times a second run of the same file (every message a
// duplicate). Full scale: all rows (target ≤ 15 s on PostgreSQL); small scale: the first 100,000 rows.
import { randomBytes } from "node:crypto";
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createGunzip, gzipSync } from "node:zlib";
import { importCsv } from "../src/ingest/csv-import.ts";
import { inspectCsvFile, readCsvRecords } from "../src/ingest/csv-source.ts";
import { type Db, openDb } from "../src/store/db.ts";
import { migrate } from "../src/store/migrate.ts";
import { createWorkspace } from "../src/store/workspaces.ts";
import { benchDatabase } from "./bench-database.ts";
import type { BenchFigure } from "./figure.ts";

export interface RunOptions {
  scale: "small" | "full";
  backend: "postgres" | "pglite";
  databaseUrl?: string;
}

const RETAIL = fileURLToPath(new URL("../../shared/data/online_retail.csv.gz", import.meta.url));
const SMALL_ROWS = 100_000;
const TARGET_SECONDS = { postgres: 15 } as const;

const log = (msg: string) => process.stderr.write(`[import] ${msg}\n`);

export async function run(opts: RunOptions): Promise<BenchFigure[]> {
  const tmp = mkdtempSync(join(tmpdir(), "tact-bench-import-"));
  let target: { db: Db; drop: () => Promise<void> } | undefined;
  try {
    const file =
      opts.scale === "full" ? RETAIL : await firstRows(RETAIL, SMALL_ROWS, join(tmp, "retail.csv.gz"));
    const parseSeconds = await parseOnly(file);
    log(`${opts.backend}/${opts.scale}: parsing alone ${parseSeconds.toFixed(2)} s`);

    target = await freshDatabase(opts, tmp);
    const ws = await createWorkspace(target.db, "shop");
    const t0 = performance.now();
    const s = await importCsv(target.db, ws, file, { kind: "events", preset: "online-retail" });
    const seconds = (performance.now() - t0) / 1000;
    log(`imported ${s.rowsRead} rows in ${seconds.toFixed(2)} s: ${JSON.stringify(s.byEvent)}`);
    const t1 = performance.now();
    const again = await importCsv(target.db, ws, file, { kind: "events", preset: "online-retail" });
    const rerunSeconds = (performance.now() - t1) / 1000;
    if (again.messages.accepted !== 0)
      throw new Error(`the second run stored ${again.messages.accepted} messages`);

    const skipped = Object.values(s.skippedRows).reduce((a, b) => a + b, 0);
    const base = {
      bench: "import",
      backend: opts.backend,
      scale: opts.scale,
      rows: s.rowsRead,
      file: "online_retail",
    };
    const target_s =
      opts.scale === "full" && opts.backend === "postgres" ? { target: TARGET_SECONDS.postgres } : {};
    return [
      { ...base, metric: "seconds", value: round(seconds), unit: "s", ...target_s },
      { ...base, metric: "rows_per_second", value: Math.round(s.rowsRead / seconds), unit: "rows/s" },
      {
        ...base,
        metric: "parse_only_seconds",
        value: round(parseSeconds),
        unit: "s",
        note: "the limit: no database",
      },
      {
        ...base,
        metric: "rerun_seconds",
        value: round(rerunSeconds),
        unit: "s",
        note: "every message a duplicate",
      },
      { ...base, metric: "orders", value: s.byEvent.order_completed ?? 0, unit: "orders" },
      { ...base, metric: "refunds", value: s.byEvent.order_refunded ?? 0, unit: "refunds" },
      { ...base, metric: "customers", value: s.byEvent.identify ?? 0, unit: "customers" },
      { ...base, metric: "skipped_rows", value: skipped, unit: "rows", reasons: s.skippedRows },
      { ...base, metric: "rejected_rows", value: s.rejectedRows, unit: "rows" },
    ];
  } finally {
    await target?.drop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/** The first `rows` data rows of a gzip CSV (and its header), written gzip to `out`. */
async function firstRows(path: string, rows: number, out: string): Promise<string> {
  const rl = createInterface({
    input: createReadStream(path).pipe(createGunzip()),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  const lines: string[] = [];
  for await (const line of rl) {
    lines.push(line);
    if (lines.length > rows) break;
  }
  rl.close();
  writeFileSync(out, gzipSync(`${lines.join("\n")}\n`));
  return out;
}

async function parseOnly(path: string): Promise<number> {
  const t0 = performance.now();
  const file = await inspectCsvFile(path);
  let n = 0;
  for await (const _ of readCsvRecords(file, { onProblem: () => undefined })) n++;
  if (n === 0) throw new Error("no rows");
  return (performance.now() - t0) / 1000;
}

async function freshDatabase(opts: RunOptions, tmp: string): Promise<{ db: Db; drop: () => Promise<void> }> {
  if (opts.backend === "pglite") {
    const db = await openDb({ dataDir: join(tmp, "pglite") });
    await migrate(db);
    return { db, drop: () => db.close() };
  }
  if (!opts.databaseUrl) throw new Error("the postgres backend needs a databaseUrl");
  const { db, close } = await benchDatabase(
    opts.databaseUrl,
    `tact_bench_import_${randomBytes(4).toString("hex")}`,
  );
  return { db, drop: close };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const scale = process.env.BENCH_SCALE === "full" ? "full" : "small";
  const databaseUrl = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL;
  const backends = (process.env.BENCH_BACKEND ?? (databaseUrl ? "pglite,postgres" : "pglite")).split(",");
  for (const backend of backends) {
    if (backend !== "pglite" && backend !== "postgres") throw new Error(`unknown backend ${backend}`);
    const figures = await run({ scale, backend, ...(databaseUrl ? { databaseUrl } : {}) });
    for (const f of figures) process.stdout.write(`${JSON.stringify(f)}\n`);
  }
}
