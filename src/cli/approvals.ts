// `tact approvals list|approve|reject`: the approval queue of pilot scenarios from the command line. A verdict is
// recorded with the operating-system user who gave it; approved messages still pass every communication rule.
import { userInfo } from "node:os";
import type { Command } from "commander";
import { systemClock } from "../core/clock.ts";
import {
  approvalCounts,
  approveScenario,
  decideApprovals,
  listApprovals,
  type Verdict,
} from "../store/approvals.ts";
import type { Db } from "../store/db.ts";
import { getWorkspace } from "../store/workspaces.ts";
import { print, UsageError, withDb } from "./context.ts";

const actor = () => `cli ${userInfo().username}`;

export function registerApprovals(program: Command): void {
  const approvals = program
    .command("approvals")
    .description("the approval queue of pilot scenarios: messages that wait for a person");

  approvals
    .command("list")
    .description("list messages awaiting approval, oldest first")
    .option("--workspace <name>", "workspace", "default")
    .option("--scenario <name>", "only this scenario's messages")
    .option("--limit <n>", "at most this many", "100")
    .option("--json", "print JSON")
    .action((o: { workspace: string; scenario?: string; limit: string; json?: boolean }) =>
      withDb(async (db) => {
        const limit = Number(o.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new UsageError("--limit must be a positive integer");
        const ws = await getWorkspace(db, o.workspace);
        const list = await listApprovals(db.pool, ws.id, { scenario: o.scenario, limit });
        const counts = await approvalCounts(db.pool, ws.id);
        print(Boolean(o.json), { approvals: list, waiting: Object.fromEntries(counts) }, () =>
          list.length === 0
            ? `no message awaits approval in workspace ${ws.name}`
            : [
                ...list.map(
                  (a) =>
                    `${a.messageId}\t${a.scenario}\tstep ${a.stepId}\t${a.template}\t` +
                    `${a.userId ?? a.email ?? `customer ${a.customerId}`}\t${a.plannedAt.toISOString()}`,
                ),
                `waiting: ${[...counts].map(([s, n]) => `${s} ${n}`).join(", ")}`,
              ].join("\n"),
        );
      }),
    );

  approvals
    .command("approve [ids...]")
    .description("approve messages: they become due now and still pass every communication rule")
    .option("--workspace <name>", "workspace", "default")
    .option("--all", "approve every waiting message of --scenario")
    .option("--scenario <name>", "with --all: the scenario whose messages to approve")
    .option("--json", "print JSON")
    .action((ids: string[], o: { workspace: string; all?: boolean; scenario?: string; json?: boolean }) =>
      withDb(async (db) => {
        if (o.all) {
          if (!o.scenario) throw new UsageError("--all needs --scenario NAME");
          if (ids.length > 0) throw new UsageError("give message ids or --all, not both");
          const ws = await getWorkspace(db, o.workspace);
          const done = await approveScenario(db.pool, ws.id, o.scenario, actor(), systemClock.now());
          print(Boolean(o.json), { approved: done, refused: [] }, () => `approved ${done.length} messages`);
          return;
        }
        if (ids.length === 0) throw new UsageError("give message ids, or --all --scenario NAME");
        await verdict(db, o.workspace, ids, { action: "approve" }, Boolean(o.json));
      }),
    );

  approvals
    .command("reject <ids...>")
    .description("reject messages: they are never sent, and the reason is kept on each")
    .option("--workspace <name>", "workspace", "default")
    .option("--reason <text>", "why, kept on the message", "rejected")
    .option("--json", "print JSON")
    .action((ids: string[], o: { workspace: string; reason: string; json?: boolean }) =>
      withDb(async (db) => {
        const reason = o.reason.trim();
        if (reason.length === 0 || reason.length > 500) throw new UsageError("--reason is 1-500 characters");
        await verdict(db, o.workspace, ids, { action: "reject", reason }, Boolean(o.json));
      }),
    );
}

async function verdict(db: Db, workspace: string, ids: string[], v: Verdict, json: boolean): Promise<void> {
  const ws = await getWorkspace(db, workspace);
  const r = await decideApprovals(db.pool, ws.id, ids, v, actor(), systemClock.now());
  const verb = v.action === "approve" ? "approved" : "rejected";
  print(json, { [verb]: r.done, refused: r.refused }, () =>
    [
      `${verb} ${r.done.length} messages`,
      ...r.refused.map((x) =>
        x.problem === "not_found"
          ? `  ${x.messageId}: no such message`
          : `  ${x.messageId}: is ${x.fate}, not awaiting approval`,
      ),
    ].join("\n"),
  );
  // Some ids could not be decided: the command did not fully do what was asked.
  if (r.refused.length > 0) process.exitCode = 1;
}
