// `npm run bench`: runs every benchmark module in bench/ that exports `run` on each backend and prints one JSON
// line per figure to stdout (progress goes to stderr).
//
//   BENCH_SCALE=small|full   sizes (default small: a few minutes in all; full: the sizes named in the issues)
//   BENCH_ONLY=ingest,import only these modules (file names without .ts)
//   BENCH_BACKEND=pglite|postgres   only this backend
//   BENCH_DATABASE_URL / DATABASE_URL   the PostgreSQL server to use (a database is created per run and
//                                       dropped); without them postgres://postgres@127.0.0.1:5432/postgres is
//                                       used when it answers. PGlite always runs.
import { type ExecFileSyncOptionsWithStringEncoding, execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import pg from "pg";
import type { BenchFigure } from "./figure.ts";

type Backend = "postgres" | "pglite";
type Scale = "small" | "full";
type RunFn = (opts: { scale: Scale; backend: Backend; databaseUrl?: string }) => Promise<BenchFigure[]>;

const DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres";
const BENCH_DIR = fileURLToPath(new URL("./", import.meta.url));
const NOT_BENCHES = new Set(["run.ts", "figure.ts"]);

/** The commit measured, "-dirty" when src/ has changes not committed; figures carry it. */
function sourceVersion(): string | undefined {
  try {
    const opts: ExecFileSyncOptionsWithStringEncoding = {
      cwd: BENCH_DIR,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    };
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], opts).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "../src"], opts).trim() !== "";
    return `${head}${dirty ? "-dirty" : ""}`;
  } catch {
    return undefined;
  }
}

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const scaleEnv = process.env.BENCH_SCALE ?? "small";
  if (scaleEnv !== "small" && scaleEnv !== "full")
    throw new Error(`BENCH_SCALE must be small or full, not ${scaleEnv}`);
  const scale: Scale = scaleEnv;
  const only = (process.env.BENCH_ONLY ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const onlyBackend = process.env.BENCH_BACKEND?.trim();

  const modules = readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts") && !NOT_BENCHES.has(f))
    .map((f) => f.slice(0, -3))
    .filter((name) => only.length === 0 || only.includes(name))
    .sort();
  if (only.length > 0) {
    const missing = only.filter((n) => !modules.includes(n));
    if (missing.length > 0) throw new Error(`no bench module named ${missing.join(", ")} in bench/`);
  }

  const backends: { backend: Backend; databaseUrl?: string }[] = [{ backend: "pglite" }];
  const explicitUrl = process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL;
  if (explicitUrl) {
    if (!onlyBackend || onlyBackend === "postgres") {
      if (!(await reachable(explicitUrl)))
        throw new Error("the PostgreSQL server of BENCH_DATABASE_URL does not answer");
    }
    backends.push({ backend: "postgres", databaseUrl: explicitUrl });
  } else if (await reachable(DEFAULT_PG)) {
    backends.push({ backend: "postgres", databaseUrl: DEFAULT_PG });
  } else {
    process.stderr.write(`[bench] no PostgreSQL at ${DEFAULT_PG} and no BENCH_DATABASE_URL: PGlite only\n`);
  }
  const selected = backends.filter((b) => !onlyBackend || b.backend === onlyBackend);
  if (selected.length === 0) throw new Error(`backend ${onlyBackend} is not available`);

  const commit = sourceVersion();
  const started = Date.now();
  let failed = 0;
  for (const { backend, databaseUrl } of selected) {
    for (const name of modules) {
      const mod = (await import(pathToFileURL(`${BENCH_DIR}${name}.ts`).href)) as { run?: unknown };
      if (typeof mod.run !== "function") continue;
      process.stderr.write(`[bench] ${name} on ${backend}, ${scale} scale\n`);
      const t = Date.now();
      try {
        const figures = await (mod.run as RunFn)({ scale, backend, ...(databaseUrl ? { databaseUrl } : {}) });
        for (const f of figures) process.stdout.write(`${JSON.stringify(commit ? { ...f, commit } : f)}\n`);
        process.stderr.write(
          `[bench] ${name} on ${backend} done in ${((Date.now() - t) / 1000).toFixed(0)} s\n`,
        );
      } catch (err) {
        failed++;
        process.stderr.write(`[bench] ${name} on ${backend} FAILED: ${(err as Error).stack ?? err}\n`);
      }
    }
  }
  process.stderr.write(`[bench] all done in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  if (failed > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`[bench] ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
