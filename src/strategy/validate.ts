// `validateStrategy`: loads a strategy and runs the lint checks on it, answering with every error and warning
// at once. The lint checks (empty audiences, coverage gaps, communication pressure, …) come in through a hook so
// that they can read the database without this module knowing about it.
import { compareDiagnostics, type Diagnostic } from "./diagnostics.ts";
import { loadStrategy } from "./load.ts";
import type { StrategySource } from "./positions.ts";
import type { Strategy } from "./types.ts";

export type StrategyLint = (
  strategy: Strategy,
  source: StrategySource,
) => Diagnostic[] | Promise<Diagnostic[]>;

export interface ValidateOptions {
  /** Runs only on a strategy without errors; what it answers joins the output. */
  lint?: StrategyLint;
}

export interface ValidationResult {
  /** No errors (warnings allowed). */
  valid: boolean;
  errors: Diagnostic[];
  warnings: Diagnostic[];
  strategy?: Strategy;
}

export async function validateStrategy(
  text: string | Uint8Array,
  file: string,
  opts: ValidateOptions = {},
): Promise<ValidationResult> {
  const loaded = loadStrategy(text, file);
  if (!loaded.ok) {
    return {
      valid: false,
      errors: loaded.diagnostics.filter((d) => d.severity === "error"),
      warnings: loaded.diagnostics.filter((d) => d.severity === "warning"),
    };
  }
  const all = [...loaded.warnings];
  if (opts.lint) {
    try {
      all.push(...(await opts.lint(loaded.strategy, loaded.source)));
    } catch (err) {
      all.push({
        severity: "error",
        code: "lint_failed",
        message: `the lint checks failed: ${(err as Error).message}`,
        file,
        line: 1,
        column: 1,
        text: "",
      });
    }
  }
  all.sort(compareDiagnostics);
  const errors = all.filter((d) => d.severity === "error");
  return {
    valid: errors.length === 0,
    errors,
    warnings: all.filter((d) => d.severity === "warning"),
    strategy: loaded.strategy,
  };
}
