// Loads a strategy file: refuses what is too big or not UTF-8 before parsing, parses the YAML with source
// positions, checks the shape (schema.ts), the references and conditions (references.ts), and compiles the result
// (compile.ts). Never throws: every problem found comes back as a diagnostic, all of them at once.
import { parseDocument } from "yaml";
import { compileStrategy } from "./compile.ts";
import { compareDiagnostics, type Diagnostic, SourceText } from "./diagnostics.ts";
import { issuesToDiagnostics } from "./issues.ts";
import { StrategySource } from "./positions.ts";
import { checkReferences } from "./references.ts";
import { documentSchema } from "./schema.ts";
import type { Strategy } from "./types.ts";

/** Larger than any real strategy by far; a bigger file is refused before it is read as YAML. */
export const MAX_STRATEGY_BYTES = 5 * 1024 * 1024;
/** yaml's guard against alias expansion bombs ("billion laughs"). */
export const MAX_ALIAS_COUNT = 200;

export type LoadResult =
  | { ok: true; strategy: Strategy; source: StrategySource; warnings: Diagnostic[] }
  | { ok: false; diagnostics: Diagnostic[] };

function fileError(file: string, code: string, message: string, line = 1, column = 1): Diagnostic {
  return { severity: "error", code, message, file, line, column, text: "" };
}

/** Offset of the first byte that is not part of a well-formed UTF-8 sequence, or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] ?? 0;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) [need, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [need, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/** The refusal of a file above the size limit, so callers can refuse it before reading it. */
export function sizeProblem(size: number, file: string): Diagnostic | undefined {
  if (size <= MAX_STRATEGY_BYTES) return undefined;
  const mb = (size / 1024 / 1024).toFixed(1);
  const message = `the file is ${mb} MB; a strategy may be at most 5 MB (${MAX_STRATEGY_BYTES} bytes)`;
  return fileError(file, "file_too_large", message);
}

function decode(input: string | Uint8Array, file: string): { text: string } | { error: Diagnostic } {
  const tooLarge = sizeProblem(typeof input === "string" ? Buffer.byteLength(input) : input.length, file);
  if (tooLarge) return { error: tooLarge };
  if (typeof input === "string") return { text: input.replace(/^\uFEFF/, "") };
  if ((input[0] === 0xff && input[1] === 0xfe) || (input[0] === 0xfe && input[1] === 0xff)) {
    return { error: fileError(file, "not_utf8", "the file is UTF-16; save it as UTF-8") };
  }
  const bad = firstInvalidUtf8(input);
  if (bad !== -1) {
    const before = Buffer.from(input.subarray(0, bad)).toString("utf8");
    const src = new SourceText(file, before);
    const { line, column } = src.position(before.length);
    const hex = (input[bad] ?? 0).toString(16).padStart(2, "0");
    const msg = `the file is not UTF-8: byte ${bad} (0x${hex}, line ${line}, column ${column}) is not valid UTF-8; save the file as UTF-8`;
    return { error: fileError(file, "not_utf8", msg, line, column) };
  }
  return {
    text: Buffer.from(input.buffer, input.byteOffset, input.length)
      .toString("utf8")
      .replace(/^\uFEFF/, ""),
  };
}

function yamlDiagnostics(
  text: SourceText,
  doc: ReturnType<typeof parseDocument>,
): { errors: Diagnostic[]; warnings: Diagnostic[]; fatal: boolean } {
  const errors = doc.errors.map((e) => {
    if (e.code !== "DUPLICATE_KEY") {
      return text.diagnostic(e.pos[0], e.pos[1] - e.pos[0], "error", "yaml_syntax", e.message);
    }
    // yaml points at the key's first character; the whole key reads better under the caret.
    const key =
      /^(?:"[^"\n]*"|'[^'\n]*'|[^:\n]+?)(?=\s*:)/.exec(text.text.slice(e.pos[0], e.pos[0] + 200))?.[0] ?? "";
    const message = `duplicate key '${key.replace(/^["']|["']$/g, "")}': each key may appear once in a map`;
    return text.diagnostic(e.pos[0], Math.max(key.length, 1), "error", "duplicate_key", message);
  });
  const warnings = doc.warnings.map((w) =>
    text.diagnostic(w.pos[0], w.pos[1] - w.pos[0], "warning", "yaml_warning", w.message),
  );
  return { errors, warnings, fatal: doc.errors.some((e) => e.code !== "DUPLICATE_KEY") };
}

export function loadStrategy(input: string | Uint8Array, file: string): LoadResult {
  try {
    return load(input, file);
  } catch (err) {
    // A bug of ours must still not crash the caller; it is reported like any other problem.
    return {
      ok: false,
      diagnostics: [fileError(file, "internal_error", `could not check the file: ${(err as Error).message}`)],
    };
  }
}

function load(input: string | Uint8Array, file: string): LoadResult {
  const decoded = decode(input, file);
  if ("error" in decoded) return { ok: false, diagnostics: [decoded.error] };
  const text = new SourceText(file, decoded.text);
  if (decoded.text.trim() === "")
    return {
      ok: false,
      diagnostics: [fileError(file, "empty", "the file is empty: a strategy starts with 'version: 1'")],
    };
  const doc = parseDocument(decoded.text, {
    prettyErrors: false,
    uniqueKeys: true,
    strict: true,
  });
  const source = new StrategySource(text, doc);
  const yamlProblems = yamlDiagnostics(text, doc);
  if (yamlProblems.fatal)
    return {
      ok: false,
      diagnostics: [...yamlProblems.errors, ...yamlProblems.warnings].sort(compareDiagnostics),
    };

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    const msg = `${(err as Error).message} (aliases may expand to at most ${MAX_ALIAS_COUNT} nodes)`;
    return { ok: false, diagnostics: [fileError(file, "alias_limit", msg)] };
  }
  const errors: Diagnostic[] = [...yamlProblems.errors];
  const warnings: Diagnostic[] = [...yamlProblems.warnings];
  const parsed = documentSchema.safeParse(value, { reportInput: true });
  if (!parsed.success) errors.push(...issuesToDiagnostics(parsed.error.issues, source));
  const refs = checkReferences(value, source, file);
  for (const d of refs.diagnostics) (d.severity === "error" ? errors : warnings).push(d);
  if (errors.length > 0 || !parsed.success) {
    return { ok: false, diagnostics: dedupe([...errors, ...warnings]).sort(compareDiagnostics) };
  }
  const strategy = compileStrategy(parsed.data, refs.conditions);
  return { ok: true, strategy, source, warnings: warnings.sort(compareDiagnostics) };
}

function dedupe(list: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return list.filter((d) => {
    const k = `${d.line}:${d.column}:${d.code}:${d.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
