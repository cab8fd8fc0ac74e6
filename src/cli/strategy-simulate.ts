// `tact strategy simulate FILE`: runs a strategy file for N days of virtual time over a synthetic base (one of
// the example generators) or a copy of a workspace, in a throw-away in-memory database, and prints what would
// have been sent, suppressed and deferred, at what cost, and how each scenario went. Exit codes: 0 done,
// 1 the strategy has errors, 2 wrong usage.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import { generate as flowerShop } from "../../examples/flower-shop/generate.ts";
import { generate as onlineSchool } from "../../examples/online-school/generate.ts";
import { loadConfig } from "../config.ts";
import { inlineTemplateFiles } from "../engine/render/template-files.ts";
import type { BaseGenerator, SimulateOptions } from "../engine/simulate.ts";
import { openDb } from "../store/db.ts";
import { formatDiagnostic } from "../strategy/diagnostics.ts";
import { parseDuration } from "../strategy/values.ts";
import { UsageError } from "./context.ts";
import { simulationText } from "./strategy-simulate-text.ts";

const EXAMPLES: Readonly<Record<string, BaseGenerator>> = {
  "online-school": onlineSchool,
  "flower-shop": flowerShop,
};

/** Where a synthetic simulation starts unless told: a fixed moment, so the same command gives the same run. */
const SYNTHETIC_START = "2027-03-15T00:00:00Z";

interface Flags {
  days: number;
  customers?: number;
  example?: string;
  seed?: number;
  fromDb?: boolean;
  workspace: string;
  start?: string;
  step: string;
  historyDays: number;
  json?: boolean;
}

const positiveInt = (name: string, max: number) => (v: string) => {
  const x = Number(v);
  if (!Number.isInteger(x) || x < 1 || x > max)
    throw new InvalidArgumentError(`${name} is a whole number from 1 to ${max.toLocaleString("en-US")}`);
  return x;
};

function readSource(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      `cannot read ${file}: ${code === "ENOENT" ? "no such file" : (err as Error).message}`,
    );
  }
}

function startOf(flags: Flags): Date {
  if (flags.start !== undefined) {
    const d = new Date(flags.start);
    if (Number.isNaN(d.getTime())) throw new UsageError(`--start: '${flags.start}' is not a date`);
    return d;
  }
  if (!flags.fromDb) return new Date(SYNTHETIC_START);
  // A copy of live data starts now, on the hour.
  const now = Date.now();
  return new Date(now - (now % 3_600_000));
}

function stepOf(flags: Flags): number {
  const step = parseDuration(flags.step);
  if (!step.ok) throw new UsageError(`--step: ${step.message}`);
  if (step.value < 60_000 || step.value > 86_400_000) throw new UsageError("--step: from 1m to 1d");
  return step.value;
}

function baseOf(flags: Flags): { base: SimulateOptions["base"] | "from-db"; example: string } {
  if (flags.fromDb) {
    for (const [flag, v] of [
      ["--customers", flags.customers],
      ["--example", flags.example],
      ["--seed", flags.seed],
    ] as const) {
      if (v !== undefined)
        throw new UsageError(`${flag} makes a synthetic base; it cannot go with --from-db`);
    }
    return { base: "from-db", example: "" };
  }
  const example = flags.example ?? "online-school";
  const generate = EXAMPLES[example];
  if (!generate)
    throw new UsageError(`--example: '${example}' is not one of ${Object.keys(EXAMPLES).join(", ")}`);
  return {
    example,
    base: {
      kind: "synthetic",
      example,
      generate,
      customers: flags.customers ?? 1_000,
      seed: flags.seed ?? 1,
      historyDays: flags.historyDays,
    },
  };
}

function progress(json: boolean): SimulateOptions["onProgress"] {
  if (json || !process.stderr.isTTY) return undefined;
  return (p) => {
    const what = p.phase === "load" ? `loading customers ${p.done}/${p.total}` : `day ${p.done}/${p.total}`;
    process.stderr.write(`\r${what}        `);
    if (p.phase === "run" && p.done >= p.total) process.stderr.write("\n");
  };
}

/** The configured database, opened only to be read; an embedded one that does not exist is not created. */
async function openSource() {
  const config = loadConfig();
  if (!config.databaseUrl && !existsSync(join(config.dataDir, "pgdata")))
    throw new UsageError(`--from-db: no database in ${config.dataDir} (set TACT_DATA_DIR or DATABASE_URL)`);
  return openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
}

export function registerStrategySimulate(strategyCommand: Command): void {
  strategyCommand
    .command("simulate <file>")
    .description(
      "run a strategy for N days of virtual time over a synthetic base or a copy of a workspace, sending nothing, and report what it would do",
    )
    .option("--days <n>", "days of virtual time", positiveInt("--days", 730), 30)
    .option(
      "--customers <n>",
      "customers of the synthetic base (default 1000)",
      positiveInt("--customers", 10_000_000),
    )
    .option("--example <name>", `the synthetic base's generator: ${Object.keys(EXAMPLES).join(" or ")}`)
    .option("--seed <n>", "seed of the synthetic base (default 1)", positiveInt("--seed", 2 ** 31))
    .option(
      "--history-days <n>",
      "days of synthetic history before the start",
      positiveInt("--history-days", 3650),
      365,
    )
    .option(
      "--from-db",
      "copy the workspace's customers and the events the strategy reads from the configured database",
    )
    .option("--workspace <name>", "the workspace copied with --from-db", "default")
    .option("--start <date>", `when the simulation starts (default ${SYNTHETIC_START}; with --from-db, now)`)
    .option("--step <duration>", "how far the clock moves between engine rounds, 1m to 1d", "1h")
    .option("--json", "print the report as JSON")
    .action(async (file: string, flags: Flags) => {
      const inlined = inlineTemplateFiles(readSource(file), file);
      if (inlined.problems.length > 0)
        throw new UsageError(inlined.problems.map((p) => `${file}: ${p.message}`).join("\n"));
      const start = startOf(flags);
      const stepMs = stepOf(flags);
      const { base } = baseOf(flags);
      const from = base === "from-db" ? await openSource() : null;
      try {
        const { simulate } = await import("../engine/simulate.ts"); // the engine loads only when a simulation runs
        const r = await simulate({
          source: inlined.source,
          file,
          start,
          days: flags.days,
          stepMs,
          base: from
            ? { kind: "copy", from, workspace: flags.workspace }
            : (base as Exclude<typeof base, "from-db">),
          onProgress: progress(Boolean(flags.json)),
        });
        if (!r.ok) {
          if (flags.json) process.stdout.write(`${JSON.stringify({ errors: r.diagnostics }, null, 2)}\n`);
          else {
            for (const d of r.diagnostics) process.stdout.write(`${formatDiagnostic(d, inlined.source)}\n`);
            process.stdout.write(`${file}: not simulated\n`);
          }
          process.exitCode = 1;
          return;
        }
        process.stdout.write(
          flags.json ? `${JSON.stringify(r.report, null, 2)}\n` : `${simulationText(r.report, r.timings)}\n`,
        );
        if (flags.json)
          process.stderr.write(`simulated ${r.timings.steps} steps in ${r.timings.runSeconds} s\n`);
      } finally {
        await from?.close();
      }
    });
}
