// Turns zod's issues about the document into diagnostics placed in the file: unknown keys with the closest
// known key, missing keys at the entry that lacks them, for unions the alternative the author evidently meant
// (the one that needs the fewest changes), and secrets written where an environment variable name belongs.
import type { z } from "zod";
import type { Diagnostic, DiagnosticExtras } from "./diagnostics.ts";
import type { Path, StrategySource } from "./positions.ts";
import { KNOWN_KEYS_MARK } from "./schema.ts";
import { suggest, suggestion } from "./suggest.ts";

type Issue = z.core.$ZodIssue;

interface Found {
  path: Path;
  diagnostic: Diagnostic;
  missing?: string;
  suggested?: string;
}

export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a map";
  if (typeof v === "string") return `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  return `${typeof v === "number" ? "the number" : typeof v} ${String(v)}`;
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  object: "a map",
  array: "a list",
  string: "text",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
};

/** A key that is absent: zod reports it as a wrong type, value or union whose input is undefined. */
function isMissing(issue: Issue): boolean {
  const code = issue.code;
  return (
    (code === "invalid_type" || code === "invalid_union" || code === "invalid_value") &&
    issue.input === undefined
  );
}

/** How far the input is from a union alternative: unknown keys and missing keys weigh most. */
function distance(issues: readonly Issue[]): number {
  let score = 0;
  for (const i of issues) {
    if (i.code === "invalid_type" && i.path.length === 0) score += 100;
    else if (isMissing(i)) score += i.path.length === 1 ? 10 : 2;
    else if (i.code === "unrecognized_keys") {
      const known = knownKeys(i.message);
      for (const k of i.keys) score += 1 + Math.min(suggestion(k, known)?.distance ?? 3, 3);
    } else score += 1;
  }
  return score;
}

function knownKeys(message: string): string[] {
  return message.startsWith(KNOWN_KEYS_MARK) ? message.slice(KNOWN_KEYS_MARK.length).split(",") : [];
}

function secretKey(key: string, known: readonly string[]): boolean {
  return (
    known.includes(`${key}_env`) ||
    (/(password|secret|token|api_key|private_key)$/i.test(key) && !known.includes(key))
  );
}

export function issuesToDiagnostics(
  issues: readonly Issue[],
  src: StrategySource,
  base: Path = [],
): Diagnostic[] {
  const found: Found[] = [];
  for (const issue of issues) collect(issue, base, src, found);
  // "unknown key 'sned' (did you mean 'send'?)" already says what "missing 'send'" would.
  const suggestedAt = new Set(
    found.filter((f) => f.suggested).map((f) => `${f.path.slice(0, -1).join("\u0001")}\u0002${f.suggested}`),
  );
  return found
    .filter((f) => !(f.missing && suggestedAt.has(`${f.path.slice(0, -1).join("\u0001")}\u0002${f.missing}`)))
    .map((f) => f.diagnostic);
}

function collect(issue: Issue, base: Path, src: StrategySource, out: Found[]): void {
  const path = [...base, ...issue.path.map((p) => (typeof p === "number" ? p : String(p)))];
  const last = String(path[path.length - 1]);
  if (isMissing(issue) && path.length > 0) {
    const custom = /^Invalid (input|option)/.test(issue.message) ? "" : `: ${issue.message}`;
    const diagnostic = src.at(path, "error", "missing_key", `missing required key '${last}'${custom}`);
    out.push({ path, missing: last, diagnostic });
  } else if (issue.code === "invalid_union") {
    union(issue, path, src, out);
  } else if (issue.code === "unrecognized_keys") {
    unknownKeys(issue, path, src, out);
  } else if (issue.code === "invalid_key") {
    const msg = `'${last}' is not a valid name: letters, digits and _, starting with a letter or _`;
    out.push({ path, diagnostic: src.at(path, "error", "bad_name", msg, {}, "key") });
  } else {
    const p = plainIssue(issue);
    out.push({ path, diagnostic: src.at(path, "error", p.code, p.message, p.extras) });
  }
}

/** Code, message and hints of an issue that concerns the value alone. */
function plainIssue(issue: Issue): { code: string; message: string; extras?: DiagnosticExtras } {
  switch (issue.code) {
    case "invalid_type": {
      const expected = TYPE_WORDS[issue.expected] ?? issue.expected;
      // A custom message (the value formats) already says what is expected, better than a type name.
      if (!issue.message.startsWith("Invalid input")) return { code: "wrong_type", message: issue.message };
      const message = `expected ${expected}, found ${describeValue(issue.input)}`;
      return { code: "wrong_type", message, extras: { expected } };
    }
    case "invalid_value": {
      const values = issue.values.map((v) => String(v));
      const shown = String(issue.input);
      const message =
        values.length === 1
          ? `expected ${values[0]}, found ${describeValue(issue.input)}`
          : `'${shown}' is not one of ${values.join(", ")}`;
      return {
        code: "invalid_value",
        message,
        extras: { expected: values.join(" | "), suggestion: suggest(shown, values) },
      };
    }
    case "too_small":
    case "too_big": {
      const bound = issue.code === "too_small" ? issue.minimum : issue.maximum;
      const word = issue.code === "too_small" ? "at least" : "at most";
      const plural = bound === 1 ? "" : "s";
      const unit =
        issue.origin === "array" ? ` item${plural}` : issue.origin === "string" ? " characters" : "";
      const verb = issue.origin === "array" ? "needs" : "must be";
      const message = `${verb} ${word} ${String(bound)}${unit}, found ${describeValue(issue.input)}`;
      return { code: "out_of_range", message };
    }
    case "custom": {
      const params = (issue.params ?? {}) as { code?: string; expected?: string };
      return {
        code: params.code ?? "invalid",
        message: issue.message,
        extras: { expected: params.expected },
      };
    }
    case "invalid_format":
      return {
        code: "bad_format",
        message: `${describeValue(issue.input)}: ${issue.message.replace(/^Invalid /, "not a valid ")}`,
      };
    default:
      return { code: "invalid", message: issue.message };
  }
}

/** Reports the problems of the alternative the author evidently meant: the one needing the fewest changes. */
function union(issue: z.core.$ZodIssueInvalidUnion, path: Path, src: StrategySource, out: Found[]): void {
  if (issue.errors.length === 0) {
    discriminator(issue, path, src, out);
    return;
  }
  const best = issue.errors.map((errs) => ({ errs, d: distance(errs) })).sort((a, b) => a.d - b.d)[0];
  if (!best) return;
  const only = best.errs[0];
  if (best.d >= 100 && best.errs.length === 1 && only?.code === "invalid_type") {
    // Nothing fits even in type: name every type that would.
    const kinds = new Set(
      issue.errors.flatMap((e) => e.flatMap((i) => (i.code === "invalid_type" ? [i.expected] : []))),
    );
    const expected = [...kinds].map((k) => TYPE_WORDS[k] ?? k).join(" or ");
    const custom = only.message.startsWith("Invalid input") ? undefined : only.message;
    const msg = custom ?? `expected ${expected}, found ${describeValue(issue.input)}`;
    out.push({ path, diagnostic: src.at(path, "error", "wrong_type", msg, { expected }) });
    return;
  }
  for (const i of best.errs) collect(i, path, src, out);
}

function unknownKeys(
  issue: z.core.$ZodIssueUnrecognizedKeys,
  path: Path,
  src: StrategySource,
  out: Found[],
): void {
  const known = knownKeys(issue.message);
  for (const key of issue.keys) {
    const keyPath = [...path, key];
    const suggestion = suggest(key, known);
    if (secretKey(key, known)) {
      const msg = `secrets are never written in the strategy: put the value in an environment variable and name it with ${key}_env`;
      const extras = { suggestion: known.includes(`${key}_env`) ? `${key}_env` : suggestion };
      out.push({ path: keyPath, diagnostic: src.at(keyPath, "error", "secret_in_file", msg, extras, "key") });
      continue;
    }
    const extras = { expected: known.length ? `one of ${known.join(", ")}` : undefined, suggestion };
    const diagnostic = src.at(keyPath, "error", "unknown_key", `unknown key '${key}'`, extras, "key");
    out.push({ path: keyPath, suggested: suggestion, diagnostic });
  }
}

function discriminator(
  issue: z.core.$ZodIssueInvalidUnion,
  path: Path,
  src: StrategySource,
  out: Found[],
): void {
  const options = ("options" in issue ? (issue.options ?? []) : []).map((o) => String(o));
  const input = issue.input as Record<string, unknown> | undefined;
  const key = issue.discriminator ?? String(path[path.length - 1]);
  const value = input && typeof input === "object" ? input[key] : undefined;
  const expected = options.join(" | ");
  if (value === undefined) {
    out.push({
      path,
      missing: key,
      diagnostic: src.at(path, "error", "missing_key", `missing required key '${key}'`, { expected }),
    });
  } else {
    const msg = `'${String(value)}' is not one of ${options.join(", ")}`;
    out.push({
      path,
      diagnostic: src.at(path, "error", "invalid_value", msg, {
        expected,
        suggestion: suggest(String(value), options),
      }),
    });
  }
}
