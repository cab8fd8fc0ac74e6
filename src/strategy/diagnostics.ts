// Diagnostics of the strategy document: what they hold, how an offset in the file becomes a line and column,
// and how they are printed for people (`file:line:col: error CODE message`, the source line, a caret underline
// and "did you mean …").

export type Severity = "error" | "warning";

export interface Diagnostic {
  severity: Severity;
  code: string;
  message: string;
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based, in characters of the line. */
  column: number;
  /** The offending source text (its first line, shortened when long). */
  text: string;
  expected?: string;
  suggestion?: string;
}

export interface DiagnosticExtras {
  expected?: string | undefined;
  suggestion?: string | undefined;
}

const MAX_TEXT = 120;

/** A file's text with its line starts, to turn offsets into positions. */
export class SourceText {
  readonly #lineStarts: number[] = [0];

  constructor(
    readonly file: string,
    readonly text: string,
  ) {
    for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) this.#lineStarts.push(i + 1);
  }

  position(offset: number): { line: number; column: number } {
    const starts = this.#lineStarts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (starts[lo] ?? 0) + 1 };
  }

  /** The offset where a 1-based line starts. */
  lineStart(line: number): number {
    return this.#lineStarts[Math.min(Math.max(line - 1, 0), this.#lineStarts.length - 1)] ?? 0;
  }

  diagnostic(
    offset: number,
    length: number,
    severity: Severity,
    code: string,
    message: string,
    extras: DiagnosticExtras = {},
  ): Diagnostic {
    const at = Math.min(Math.max(offset, 0), this.text.length);
    const { line, column } = this.position(at);
    let text = this.text.slice(at, at + Math.max(length, 0)).split(/\r?\n/)[0] ?? "";
    if (text.length > MAX_TEXT) text = `${text.slice(0, MAX_TEXT)}…`;
    const d: Diagnostic = { severity, code, message, file: this.file, line, column, text };
    if (extras.expected !== undefined) d.expected = extras.expected;
    if (extras.suggestion !== undefined) d.suggestion = extras.suggestion;
    return d;
  }
}

export function compareDiagnostics(a: Diagnostic, b: Diagnostic): number {
  return (
    a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column || a.code.localeCompare(b.code)
  );
}

function sourceLine(source: string, line: number): string | undefined {
  let start = 0;
  for (let l = 1; l < line; l++) {
    const nl = source.indexOf("\n", start);
    if (nl === -1) return undefined;
    start = nl + 1;
  }
  const end = source.indexOf("\n", start);
  return source.slice(start, end === -1 ? undefined : end).replace(/\r$/, "");
}

/** One diagnostic for a terminal; `source` is the file's text, for the line and caret. */
export function formatDiagnostic(d: Diagnostic, source?: string): string {
  const out = [`${d.file}:${d.line}:${d.column}: ${d.severity} ${d.code} ${d.message}`];
  const line = source !== undefined && source.length > 0 ? sourceLine(source, d.line) : undefined;
  if (line !== undefined && line.length <= 400) {
    const lineNo = String(d.line);
    const pad = " ".repeat(lineNo.length);
    // Tabs keep their width in the caret line so the underline stays under the text.
    const lead = line.slice(0, d.column - 1).replace(/[^\t]/g, " ");
    const width = Math.max(1, Math.min(d.text.length, line.length - d.column + 1));
    out.push(` ${lineNo} | ${line}`, ` ${pad} | ${lead}${"^".repeat(width)}`);
  }
  if (d.expected !== undefined) out.push(`   expected: ${d.expected}`);
  if (d.suggestion !== undefined) out.push(`   did you mean '${d.suggestion}'?`);
  return out.join("\n");
}
