// `tact control-group show|rotate`: the global control group's share and salt periods, and a rotation of its salt
// (a new group for journeys beginning from now on; every earlier period is kept, so past reports stay true).
import type { Command } from "commander";
import { type ControlGroupStatus, controlGroupStatus, rotateControlGroup } from "../measure/control-group.ts";
import { RotationError } from "../store/global-control.ts";
import { getWorkspace } from "../store/workspaces.ts";
import { print, UsageError, withDb } from "./context.ts";

function format(s: ControlGroupStatus): string {
  const lines = [
    `Global control group: ${s.share === null ? "no strategy applied" : `${(s.share * 100).toFixed(2)}% of customers`}`,
    "Salt periods (oldest first):",
  ];
  for (const p of s.periods) {
    const from = p.from.startsWith("1970-01-01") ? "the beginning" : p.from;
    lines.push(
      `  ${p.fingerprint}  from ${from} ${p.until ? `until ${p.until}` : "(in force)"}${p.rotatedBy ? `, rotated by ${p.rotatedBy}` : ""}`,
    );
  }
  return lines.join("\n");
}

export function registerControlGroup(program: Command): void {
  const group = program
    .command("control-group")
    .description("the global control group: its share and salt periods; rotate its salt");
  group
    .command("show")
    .option("--workspace <name>", "workspace (default: default)", "default")
    .option("--json", "print JSON")
    .action((flags: { workspace: string; json?: boolean }) =>
      withDb(async (db) => {
        const ws = await getWorkspace(db, flags.workspace);
        const s = await controlGroupStatus(db, ws.id);
        print(Boolean(flags.json), s, () => format(s));
      }),
    );
  group
    .command("rotate")
    .description(
      "draw a new global control group for journeys beginning from now on (earlier periods are kept)",
    )
    .option("--workspace <name>", "workspace (default: default)", "default")
    .option("--json", "print JSON")
    .action((flags: { workspace: string; json?: boolean }) =>
      withDb(async (db) => {
        const ws = await getWorkspace(db, flags.workspace);
        try {
          const s = await rotateControlGroup(db, ws.id, new Date(), "cli");
          print(Boolean(flags.json), s, () => `Rotated.\n${format(s)}`);
        } catch (err) {
          if (err instanceof RotationError) throw new UsageError(err.message);
          throw err;
        }
      }),
    );
}
