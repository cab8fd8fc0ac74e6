// The tact command line: serve, workspaces, keys, customers, events, import, export.
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { identifierHashes } from "../ingest/ingest.ts";
import { dropEventPartitionsBefore } from "../store/partitions.ts";
import { eraseCustomer, exportCustomer, findCustomerIds, getProfile } from "../store/profiles.ts";
import {
  ConflictError,
  createKey,
  createWorkspace,
  getWorkspace,
  type KeyKind,
  listKeys,
  listWorkspaces,
  NotFoundError,
  revokeKey,
  updateWorkspaceSettings,
} from "../store/workspaces.ts";
import { VERSION } from "../version.ts";
import { registerApprovals } from "./approvals.ts";
import { print, UsageError, withDb } from "./context.ts";
import { registerImportExport } from "./import-export.ts";
import { registerMeasure } from "./measure.ts";
import { registerReport } from "./report.ts";
import { registerStrategy } from "./strategy.ts";
import { registerStrategyApply } from "./strategy-apply.ts";
import { strategyLints } from "./strategy-lints.ts";
import { registerStrategyMap } from "./strategy-map.ts";
import { registerStrategySimulate } from "./strategy-simulate.ts";

const program = new Command("tact")
  .description("Tact: the CRM strategy as executable code")
  .version(VERSION)
  .showHelpAfterError()
  // options belong to the command they follow: `tact report nps --workspace x` is nps's --workspace, not report's
  .enablePositionalOptions()
  .exitOverride();

program
  .command("serve")
  .description(
    "run the HTTP API (tracking, admin, snippet) and the background workers; creates workspace 'default' on first start",
  )
  .option(
    "--no-engine",
    "serve HTTP only; `tact worker` processes on the same PostgreSQL run memberships, scenarios and sending",
  )
  // the server and the engine load most of the code base: only the commands that run them pay for it
  .action(async (o: { engine: boolean }) => (await import("./serve.ts")).serve({ engine: o.engine }));

program
  .command("worker")
  .description(
    "run the engine only (memberships, scenarios, sending), to scale out beside `serve` on PostgreSQL",
  )
  .action(async () => (await import("./serve.ts")).worker());

const workspaces = program.command("workspaces").description("manage workspaces (one per business)");
workspaces
  .command("create <name>")
  .option("--json", "print JSON")
  .action((name: string, o: { json?: boolean }) =>
    withDb(async (db) => {
      const ws = await createWorkspace(db, name);
      print(Boolean(o.json), { id: ws.id, name: ws.name }, () => `created workspace ${ws.name}`);
    }),
  );
workspaces
  .command("list")
  .option("--json", "print JSON")
  .action((o: { json?: boolean }) =>
    withDb(async (db) => {
      const list = (await listWorkspaces(db)).map((w) => ({ id: w.id, name: w.name, settings: w.settings }));
      print(Boolean(o.json), list, () =>
        list.map((w) => `${w.name}\t${JSON.stringify(w.settings)}`).join("\n"),
      );
    }),
  );
workspaces
  .command("settings <name>")
  .description("change identity settings of a workspace")
  .option(
    "--merge-on <keys>",
    "merge customers on matching contact points: none, email, phone or email,phone",
  )
  .option("--default-country <code>", "ISO country for phone numbers written without a country code, e.g. RU")
  .option("--json", "print JSON")
  .action((name: string, o: { mergeOn?: string; defaultCountry?: string; json?: boolean }) =>
    withDb(async (db) => {
      const patch: { merge_on?: ("email" | "phone")[]; default_country?: string } = {};
      if (o.mergeOn !== undefined) {
        const keys = o.mergeOn === "none" ? [] : o.mergeOn.split(",").map((s) => s.trim());
        for (const k of keys) {
          if (k !== "email" && k !== "phone")
            throw new UsageError(`--merge-on: '${k}' is not email or phone`);
        }
        patch.merge_on = keys as ("email" | "phone")[];
      }
      if (o.defaultCountry !== undefined) {
        if (!/^[A-Z]{2}$/.test(o.defaultCountry))
          throw new UsageError("--default-country: two capital letters, e.g. RU");
        patch.default_country = o.defaultCountry;
      }
      const ws = await updateWorkspaceSettings(db, name, patch);
      print(Boolean(o.json), ws.settings, () => `${ws.name}: ${JSON.stringify(ws.settings)}`);
    }),
  );

const keys = program.command("keys").description("manage API keys (shown once, stored hashed)");
keys
  .command("create")
  .requiredOption("--workspace <name>", "workspace")
  .addOption(
    new Option("--kind <kind>", "write (tracking) or admin")
      .choices(["write", "admin"])
      .makeOptionMandatory(),
  )
  .option("--json", "print JSON")
  .action((o: { workspace: string; kind: KeyKind; json?: boolean }) =>
    withDb(async (db) => {
      const k = await createKey(db, o.workspace, o.kind);
      print(
        Boolean(o.json),
        k,
        () => `${k.kind} key for ${k.workspace} (id ${k.keyId}), shown once:\n${k.key}`,
      );
    }),
  );
keys
  .command("list")
  .option("--workspace <name>", "only this workspace")
  .option("--json", "print JSON")
  .action((o: { workspace?: string; json?: boolean }) =>
    withDb(async (db) => {
      const list = await listKeys(db, o.workspace);
      print(Boolean(o.json), list, () =>
        list
          .map((k) => `${k.keyId}\t${k.workspace}\t${k.kind}\t${k.revokedAt ? "revoked" : "active"}`)
          .join("\n"),
      );
    }),
  );
keys
  .command("revoke <keyId>")
  .description("revoke a key by its id (or the whole key)")
  .action((keyId: string) =>
    withDb(async (db) => {
      await revokeKey(db, keyId);
      process.stdout.write("revoked\n");
    }),
  );

const customers = program.command("customers").description("look up, export and erase customers");
customers
  .command("get <id>")
  .requiredOption("--workspace <name>", "workspace")
  .action((id: string, o: { workspace: string }) =>
    withDb(async (db) => {
      const ws = await getWorkspace(db, o.workspace);
      const p = await getProfile(db, ws.id, id);
      if (!p) throw new NotFoundError(`no customer ${id}`);
      print(true, p, () => "");
    }),
  );
customers
  .command("find")
  .requiredOption("--workspace <name>", "workspace")
  .option("--user-id <id>")
  .option("--email <email>")
  .option("--anonymous-id <id>")
  .action((o: { workspace: string; userId?: string; email?: string; anonymousId?: string }) =>
    withDb(async (db) => {
      if (!o.userId && !o.email && !o.anonymousId)
        throw new UsageError("give --user-id, --email or --anonymous-id");
      const ws = await getWorkspace(db, o.workspace);
      const ids = await findCustomerIds(db, ws.id, o);
      const profiles = await Promise.all(ids.map((id) => getProfile(db, ws.id, id)));
      print(true, profiles, () => "");
    }),
  );
customers
  .command("export <id>")
  .description("everything held on one person, as JSON")
  .requiredOption("--workspace <name>", "workspace")
  .action((id: string, o: { workspace: string }) =>
    withDb(async (db) => {
      const ws = await getWorkspace(db, o.workspace);
      const data = await exportCustomer(db, ws.id, id, new Date());
      if (!data) throw new NotFoundError(`no customer ${id}`);
      print(true, data, () => "");
    }),
  );
customers
  .command("erase <id>")
  .description("erase a customer and suppress their identifiers")
  .requiredOption("--workspace <name>", "workspace")
  .action((id: string, o: { workspace: string }) =>
    withDb(async (db) => {
      const ws = await getWorkspace(db, o.workspace);
      const r = await eraseCustomer(db, ws.id, id, (ids) => identifierHashes(ws.salt, ids), "cli");
      if (!r.erased) throw new NotFoundError(`no customer ${id}`);
      process.stdout.write(`erased customer ${id} and ${r.events} events\n`);
    }),
  );

program
  .command("events")
  .description("event storage")
  .command("prune")
  .description("drop whole months of events older than a date (retention)")
  .requiredOption("--before <date>", "YYYY-MM-DD; months entirely before it are dropped", (v) => {
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) throw new InvalidArgumentError("not a date");
    return d;
  })
  .action((o: { before: Date }) =>
    withDb(async (db) => {
      const dropped = await dropEventPartitionsBefore(db, o.before);
      process.stdout.write(dropped.length ? `dropped ${dropped.join(", ")}\n` : "nothing to drop\n");
    }),
  );

registerImportExport(program);
registerApprovals(program);
registerMeasure(program);
registerReport(program);
const strategyCommand = registerStrategy(program, { lint: strategyLints });
registerStrategyApply(strategyCommand);
registerStrategyMap(strategyCommand);
registerStrategySimulate(strategyCommand);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else if (err instanceof UsageError) {
    process.stderr.write(`error: ${err.message}\n`);
    process.exitCode = 2;
  } else if (err instanceof NotFoundError || err instanceof ConflictError) {
    process.stderr.write(`error: ${err.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
