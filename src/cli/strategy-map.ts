// `tact strategy map FILE [-o map.html]` and the lint hook of `tact strategy validate`: both read the workspace's
// customer data when the database can be opened (sizes, reach, event rates), and work from the document alone
// when it cannot, saying so.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { loadConfig } from "../config.ts";
import { gatherStrategyFacts } from "../engine/strategy-facts.ts";
import { openDb } from "../store/db.ts";
import { migrate } from "../store/migrate.ts";
import { findWorkspace } from "../store/workspaces.ts";
import { formatDiagnostic } from "../strategy/diagnostics.ts";
import { lintStrategy } from "../strategy/lint.ts";
import { loadStrategy } from "../strategy/load.ts";
import { renderCommunicationMap } from "../strategy/map.ts";
import type { StrategySource } from "../strategy/positions.ts";
import { estimatePressure, type StrategyFacts } from "../strategy/pressure.ts";
import type { Strategy } from "../strategy/types.ts";
import type { StrategyLint } from "../strategy/validate.ts";
import { UsageError } from "./context.ts";

export interface FactsOptions {
  /** the workspace whose customers the strategy is checked against (default: "default") */
  workspace?: string;
  now?: () => Date;
}

export type FactsResult = { facts: StrategyFacts; reason: null } | { facts: null; reason: string };

/**
 * The facts of the workspace's data, or why there are none. Never creates a database: with no DATABASE_URL and no
 * data folder there is simply no data yet.
 */
export async function loadFacts(strategy: Strategy, opts: FactsOptions = {}): Promise<FactsResult> {
  const workspace = opts.workspace ?? "default";
  const now = opts.now?.() ?? new Date();
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    return { facts: null, reason: (err as Error).message };
  }
  if (!config.databaseUrl && !existsSync(join(config.dataDir, "pgdata"))) {
    return { facts: null, reason: `no database at ${config.dataDir} (set DATABASE_URL or TACT_DATA_DIR)` };
  }
  try {
    const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 2 });
    try {
      await migrate(db);
      const ws = await findWorkspace(db, workspace);
      if (!ws) return { facts: null, reason: `no workspace named ${workspace}` };
      return { facts: await gatherStrategyFacts(db, ws.id, strategy, now), reason: null };
    } finally {
      await db.close();
    }
  } catch (err) {
    return { facts: null, reason: `cannot read the database: ${(err as Error).message}` };
  }
}

/** The lint checks for `tact strategy validate`, against the workspace's data when it can be read. */
export function lintHook(opts: FactsOptions = {}): StrategyLint {
  return async (strategy: Strategy, source: StrategySource) => {
    const { facts, reason } = await loadFacts(strategy, opts);
    return lintStrategy(strategy, facts, {
      source,
      now: opts.now?.() ?? new Date(),
      skippedReason: reason ?? undefined,
    });
  };
}

/** The expected messages per customer per week by channel, for `validate --json` beside the warnings. */
export function pressureSummary(strategy: Strategy, facts: StrategyFacts | null): Record<string, unknown> {
  const p = estimatePressure(strategy, facts);
  return { basis: p.basis, byChannel: p.byChannel, byStage: p.byStage, unknownRates: p.unknownRates };
}

export interface MapFlags {
  output?: string;
  workspace?: string;
}

/** Renders the map of a strategy file; answers the HTML, or the diagnostics when the file has errors. */
export async function buildMap(
  file: string,
  flags: MapFlags,
  now: () => Date = () => new Date(),
): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file === "-" ? 0 : file);
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const loaded = loadStrategy(bytes, file);
  if (!loaded.ok) {
    const text = bytes.toString("utf8");
    throw new MapRefused(loaded.diagnostics.map((d) => formatDiagnostic(d, text)).join("\n"));
  }
  const { facts, reason } = await loadFacts(loaded.strategy, {
    ...(flags.workspace ? { workspace: flags.workspace } : {}),
    now,
  });
  const pressure = estimatePressure(loaded.strategy, facts);
  const warnings = [
    ...loaded.warnings,
    ...lintStrategy(loaded.strategy, facts, {
      source: loaded.source,
      now: now(),
      pressure,
      skippedReason: reason ?? undefined,
    }),
  ];
  return renderCommunicationMap(loaded.strategy, facts, { file, warnings, pressure });
}

/** The strategy file has errors: there is nothing to draw. */
export class MapRefused extends Error {}

/** Adds `map` to the `strategy` command. */
export function registerStrategyMap(strategy: Command): void {
  strategy
    .command("map <file>")
    .description(
      "draw the communication map of a strategy as one self-contained HTML page (stages × channels)",
    )
    .option("-o, --output <file>", "write the page to this file (default: standard output)")
    .option("--workspace <name>", "workspace whose customer data sizes the map", "default")
    .action(async (file: string, flags: MapFlags) => {
      let html: string;
      try {
        html = await buildMap(file, flags);
      } catch (err) {
        if (!(err instanceof MapRefused)) throw err;
        process.stderr.write(`${err.message}\n${file}: has errors, no map drawn\n`);
        process.exitCode = 1;
        return;
      }
      if (flags.output) {
        writeFileSync(flags.output, html);
        process.stdout.write(`${resolve(flags.output)}\n`);
      } else {
        process.stdout.write(html);
      }
    });
}
