// `tact strategy validate FILE` and `tact strategy schema`: the strategy document checked from the command line
// (every problem at once, with the line, a caret under the text and "did you mean"), and its JSON Schema for
// editors. Exit codes: 0 valid, 1 errors (or warnings with --strict), 2 wrong usage or an unreadable file.
import { readFileSync, statSync } from "node:fs";
import type { Command } from "commander";
import { type Diagnostic, formatDiagnostic } from "../strategy/diagnostics.ts";
import { strategyJsonSchema } from "../strategy/json-schema.ts";
import { sizeProblem } from "../strategy/load.ts";
import { type StrategyLint, type ValidationResult, validateStrategy } from "../strategy/validate.ts";
import { UsageError } from "./context.ts";

export interface StrategyCommandOptions {
  /** The lint checks joined to `validate`'s output, against the data of the named workspace. */
  lint?: (workspace: string) => StrategyLint;
}

/** Reads the file, refusing one too large before reading it. */
function readStrategyFile(file: string): Buffer | Diagnostic {
  if (file === "-") return readFileSync(0);
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new UsageError(`${file} is not a file`);
    size = st.size;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`,
    );
  }
  return sizeProblem(size, file) ?? readFileSync(file);
}

function printText(result: ValidationResult, file: string, source: string): void {
  const all = [...result.errors, ...result.warnings].sort((a, b) => a.line - b.line || a.column - b.column);
  for (const d of all) process.stdout.write(`${formatDiagnostic(d, source)}\n`);
  const count = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const summary = result.valid
    ? `${file}: valid${result.warnings.length ? `, ${count(result.warnings.length, "warning")}` : ""}`
    : `${file}: ${count(result.errors.length, "error")}, ${count(result.warnings.length, "warning")}`;
  process.stdout.write(`${summary}\n`);
}

export function registerStrategy(program: Command, opts: StrategyCommandOptions = {}): Command {
  const strategy = program.command("strategy").description("the strategy document: check it, get its schema");
  strategy
    .command("validate <file>")
    .description("check a strategy file and report every problem at once ('-' reads standard input)")
    .option("--json", "print {valid, errors, warnings} as JSON")
    .option("--strict", "fail on warnings too")
    .option("--workspace <name>", "the workspace whose data the lint checks read", "default")
    .action(async (file: string, flags: { json?: boolean; strict?: boolean; workspace: string }) => {
      const read = readStrategyFile(file);
      const result: ValidationResult = Buffer.isBuffer(read)
        ? await validateStrategy(read, file, opts.lint ? { lint: opts.lint(flags.workspace) } : {})
        : { valid: false, errors: [read], warnings: [] };
      if (flags.json) {
        const { valid, errors, warnings } = result;
        process.stdout.write(`${JSON.stringify({ valid, errors, warnings }, null, 2)}\n`);
      } else {
        printText(result, file, Buffer.isBuffer(read) ? read.toString("utf8") : "");
      }
      const failed = !result.valid || (Boolean(flags.strict) && result.warnings.length > 0);
      process.exitCode = failed ? 1 : 0;
    });
  strategy
    .command("schema")
    .description("print the JSON Schema (draft 2020-12) of the strategy document, for editors")
    .action(() => {
      process.stdout.write(`${JSON.stringify(strategyJsonSchema(), null, 2)}\n`);
    });
  return strategy;
}
