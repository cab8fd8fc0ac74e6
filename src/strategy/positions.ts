// Where a value of the parsed document sits in the file: a path (["scenarios", "welcome", "steps", 0, "send"])
// is walked through yaml's node tree to the node's source range; an offset inside a condition string is moved
// through the scalar's quoting or block indentation to the character of the file it came from.
import { type Document, isAlias, isMap, isScalar, isSeq, type Node, type Pair, Scalar } from "yaml";
import type { Diagnostic, DiagnosticExtras, Severity, SourceText } from "./diagnostics.ts";

export type Path = readonly (string | number)[];

interface Span {
  offset: number;
  length: number;
}

/** The document of one strategy file, able to place diagnostics at paths. */
export class StrategySource {
  constructor(
    readonly text: SourceText,
    readonly doc: Document.Parsed,
  ) {}

  get file(): string {
    return this.text.file;
  }

  #resolve(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.doc) : node;
  }

  #step(node: unknown, seg: string | number): { pair?: Pair; node: unknown } | undefined {
    const n = this.#resolve(node);
    if (isMap(n)) {
      const pair = n.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(seg));
      return pair ? { pair, node: pair.value } : undefined;
    }
    if (isSeq(n) && typeof seg === "number") return { node: n.items[seg] };
    return undefined;
  }

  /** The node at `path` and the map entry holding it, as far as the path exists. */
  #walk(path: Path): { node: unknown; pair: Pair | undefined; depth: number } {
    let node: unknown = this.doc.contents;
    let pair: Pair | undefined;
    let depth = 0;
    for (const seg of path) {
      const next = this.#step(node, seg);
      if (!next || next.node === undefined || next.node === null) {
        if (next?.pair) return { node: undefined, pair: next.pair, depth: depth + 1 };
        break;
      }
      node = next.node;
      pair = next.pair;
      depth++;
    }
    return { node, pair, depth };
  }

  /** The value node at a path, or undefined when the path does not exist. */
  node(path: Path): Node | undefined {
    const w = this.#walk(path);
    return w.depth === path.length ? ((this.#resolve(w.node) as Node | undefined) ?? undefined) : undefined;
  }

  #nodeSpan(node: unknown): Span | undefined {
    const range = (node as Node | undefined)?.range;
    if (!range) return undefined;
    return { offset: range[0], length: Math.max(1, range[1] - range[0]) };
  }

  /**
   * The span to point at for a path: its key for `target: "key"` (unknown keys, bad names), else its value; when
   * the path does not exist, the key of its deepest existing parent (where the missing entry belongs).
   */
  span(path: Path, target: "key" | "value" = "value"): Span {
    const w = this.#walk(path);
    const keySpan = w.pair ? this.#nodeSpan(w.pair.key) : undefined;
    if (w.depth === path.length) {
      if (target === "key" && keySpan) return keySpan;
      return this.#nodeSpan(w.node) ?? keySpan ?? { offset: 0, length: 1 };
    }
    if (w.depth === path.length - 1 && w.node === undefined && keySpan) return keySpan;
    return keySpan ?? this.#nodeSpan(w.node) ?? { offset: 0, length: 1 };
  }

  at(
    path: Path,
    severity: Severity,
    code: string,
    message: string,
    extras: DiagnosticExtras = {},
    target: "key" | "value" = "value",
  ): Diagnostic {
    const s = this.span(path, target);
    return this.text.diagnostic(s.offset, s.length, severity, code, message, extras);
  }

  /** A diagnostic inside a condition string, at the condition's own offset. */
  inCondition(
    path: Path,
    offset: number,
    length: number,
    severity: Severity,
    code: string,
    message: string,
    extras: DiagnosticExtras = {},
  ): Diagnostic {
    const node = this.node(path);
    if (!isScalar(node) || !node.range) return this.at(path, severity, code, message, extras);
    const start = this.#fileOffset(node, offset);
    const end = this.#fileOffset(node, offset + Math.max(length, 1));
    return this.text.diagnostic(start, Math.max(1, end - start), severity, code, message, extras);
  }

  #fileOffset(node: Scalar, offset: number): number {
    const [start, end] = node.range ?? [0, 0];
    const value = String(node.value);
    const raw = this.text.text.slice(start, end);
    switch (node.type) {
      case Scalar.QUOTE_DOUBLE:
      case Scalar.QUOTE_SINGLE:
        return start + 1 + quotedOffset(raw.slice(1, -1), value, offset, node.type === Scalar.QUOTE_DOUBLE);
      case Scalar.BLOCK_LITERAL:
      case Scalar.BLOCK_FOLDED:
        return this.#blockOffset(start, value, offset, node.type === Scalar.BLOCK_FOLDED);
      default:
        return start + quotedOffset(raw, value, offset, false);
    }
  }

  /** Block scalars: the value's Nth line is the Nth line after the header, shifted by the indentation. */
  #blockOffset(start: number, value: string, offset: number, folded: boolean): number {
    const headerLine = this.text.position(start).line;
    const contentStart = this.text.lineStart(headerLine + 1);
    const source = this.text.text;
    // The block's indentation is that of its first line that has text; deeper lines keep the rest as content.
    const firstLine = /^(?:[ \t]*\r?\n)*([ \t]*)/.exec(source.slice(contentStart, contentStart + 10_000));
    const indent = firstLine?.[1]?.length ?? 0;
    if (folded)
      return (
        contentStart +
        indent +
        quotedOffset(source.slice(contentStart + indent, start + 100_000), value, offset, false)
      );
    const before = value.slice(0, offset);
    const lineIndex = before.split("\n").length - 1;
    const column = offset - (before.lastIndexOf("\n") + 1);
    return this.text.lineStart(headerLine + 1 + lineIndex) + indent + column;
  }
}

/** Walks the raw text and the value together, skipping what quoting or folding added. */
function quotedOffset(raw: string, value: string, offset: number, doubleQuoted: boolean): number {
  if (raw === value) return offset;
  let i = 0;
  let j = 0;
  while (j < offset && i < raw.length) {
    if (raw[i] === value[j]) {
      i++;
      j++;
    } else if (!doubleQuoted && raw.startsWith("''", i)) {
      i += 2;
      j++;
    } else if (doubleQuoted && raw[i] === "\\") {
      const next = raw[i + 1] ?? "";
      i += next === "u" ? 6 : next === "x" ? 4 : next === "U" ? 10 : 2;
      j++;
    } else if (/\s/.test(raw[i] ?? "")) {
      i++;
    } else {
      i++;
      j++;
    }
  }
  return i + (offset - j);
}
