// `tact strategy apply FILE`, `tact strategy versions` and `tact strategy recompute`: putting a strategy in force
// (validated, stored as a new version and every membership recomputed, in one transaction) and its history.
import { readFileSync } from "node:fs";
import { userInfo } from "node:os";
import type { Command } from "commander";
import { systemClock } from "../core/clock.ts";
import { inlineTemplateFiles } from "../engine/render/template-files.ts";
import { applyStrategy, recomputeWorkspace } from "../engine/strategy-runtime.ts";
import { listStrategyVersions } from "../store/strategies.ts";
import { getWorkspace } from "../store/workspaces.ts";
import { formatDiagnostic } from "../strategy/diagnostics.ts";
import { print, UsageError, withDb } from "./context.ts";

/** The loader refuses a file too large or not UTF-8 with a diagnostic; here only a missing file is a usage error. */
function readSource(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      `cannot read ${file}: ${code === "ENOENT" ? "no such file" : (err as Error).message}`,
    );
  }
}

export function registerStrategyApply(strategy: Command): void {
  strategy
    .command("apply <file>")
    .description(
      "validate a strategy, store it as the workspace's new version and recompute every segment and stage",
    )
    .option("--workspace <name>", "workspace", "default")
    .option("--json", "print the result as JSON")
    .action((file: string, flags: { workspace: string; json?: boolean }) =>
      withDb(async (db) => {
        // Template files next to the strategy are inlined, so the stored version is complete on its own.
        const inlined = inlineTemplateFiles(readSource(file).toString("utf8"), file);
        if (inlined.problems.length > 0)
          throw new UsageError(inlined.problems.map((p) => `${file}: ${p.message}`).join("\n"));
        const source = Buffer.from(inlined.source);
        const ws = await getWorkspace(db, flags.workspace);
        const started = performance.now();
        const r = await applyStrategy(
          db,
          ws.id,
          source,
          file,
          `cli ${userInfo().username}`,
          systemClock.now(),
        );
        if (!r.ok) {
          if (flags.json) print(true, { applied: false, errors: r.diagnostics }, () => "");
          else {
            const text = source.toString("utf8");
            for (const d of r.diagnostics) process.stdout.write(`${formatDiagnostic(d, text)}\n`);
            process.stdout.write(`${file}: not applied; nothing changed\n`);
          }
          process.exitCode = 1;
          return;
        }
        const seconds = (performance.now() - started) / 1000;
        print(
          Boolean(flags.json),
          { applied: true, version: r.version.version, seconds, ...r.recompute, sizes: r.sizes },
          () =>
            [
              `Applied ${file} to workspace ${ws.name} as version ${r.version.version} (${seconds.toFixed(2)} s).`,
              `${r.recompute.customers} customers evaluated.`,
              ...r.sizes.map((s) => `  ${s.kind.padEnd(8)} ${s.name.padEnd(32)} ${s.customers}`),
            ].join("\n"),
        );
      }),
    );

  strategy
    .command("versions")
    .description("list the applied versions of the workspace's strategy, newest first")
    .option("--workspace <name>", "workspace", "default")
    .option("--json", "print JSON")
    .action((flags: { workspace: string; json?: boolean }) =>
      withDb(async (db) => {
        const ws = await getWorkspace(db, flags.workspace);
        const versions = await listStrategyVersions(db.pool, ws.id);
        print(Boolean(flags.json), { versions }, () =>
          versions.length === 0
            ? `no strategy applied to workspace ${ws.name} yet`
            : versions
                .map(
                  (v) =>
                    `v${v.version}  ${v.appliedAt.toISOString()}  ${v.name}  by ${v.appliedBy}  ${v.checksum.slice(0, 12)}`,
                )
                .join("\n"),
        );
      }),
    );

  strategy
    .command("recompute")
    .description("recompute every segment and stage of the version in force, recording changes as events")
    .option("--workspace <name>", "workspace", "default")
    .option("--json", "print JSON")
    .action((flags: { workspace: string; json?: boolean }) =>
      withDb(async (db) => {
        const ws = await getWorkspace(db, flags.workspace);
        const r = await recomputeWorkspace(db, ws.id, systemClock.now());
        if (!r) throw new UsageError(`no strategy applied to workspace ${ws.name} yet`);
        print(
          Boolean(flags.json),
          r,
          () =>
            `${r.customers} customers: ${r.entered} segment entries, ${r.left} exits, ${r.stageChanges} stage changes`,
        );
      }),
    );
}
