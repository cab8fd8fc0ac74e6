// Recursive-descent parser of the condition language. Never throws: syntax problems come back as errors with
// offsets inside the source. A misplaced token stops the parse (one syntax error); unknown names, bad durations and
// literals of the wrong kind are recorded and parsing goes on, so one pass reports as much as it can.
//
// Precedence, loosest first: or, and, not, then one comparison or postfix test on a value.
import {
  type AggregateExpr,
  type AggregateFn,
  type CompareOp,
  EVENT_TYPES,
  type EventSelector,
  type Expr,
  type FieldName,
  type LiteralExpr,
  NUMBER_FIELDS,
  STRING_FIELDS,
  TIME_FIELDS,
  type ValueExpr,
  type Window,
} from "./ast.ts";
import { type ConditionError, didYouMean } from "./errors.ts";
import { type Token, tokenize } from "./lexer.ts";

const FIELDS: readonly string[] = [...NUMBER_FIELDS, ...TIME_FIELDS, ...STRING_FIELDS];
const AGGREGATES: readonly string[] = ["count", "sum", "avg", "min", "max", "last"];
/** Every name a condition may start an attribute with, for "did you mean". */
export const ATTRIBUTE_NAMES: readonly string[] = [
  ...FIELDS,
  "traits",
  "consent",
  "reachable",
  "stage",
  "segment",
  "nps",
];
const COMPARE_OPS = new Set(["==", "!=", "<", "<=", ">", ">="]);
const STRING_OPS = new Set(["contains", "starts_with", "ends_with"]);
const MAX_WINDOW_MS = 3653 * 86_400_000;

class SyntaxFailure extends Error {}

export type ParseResult = { ok: true; ast: Expr } | { ok: false; errors: ConditionError[] };

/**
 * Parses a condition. `eventFilter` parses a filter over one event's `properties.<path>` instead (the `where` of
 * an event trigger, a goal, or a wait for an event), with the rules of an aggregate's filter.
 */
export function parseCondition(source: string, opts: { eventFilter?: boolean } = {}): ParseResult {
  const errors: ConditionError[] = [];
  const tokens = tokenize(source, errors);
  const parser = new Parser(tokens, errors);
  try {
    const ast = parser.parseExpr(opts.eventFilter === true);
    const t = parser.peek();
    if (t.kind !== "end") parser.fail(t, "expected 'and', 'or' or the end of the condition", ["and", "or"]);
    return errors.length > 0 ? { ok: false, errors } : { ok: true, ast };
  } catch (err) {
    if (!(err instanceof SyntaxFailure)) throw err;
    return { ok: false, errors };
  }
}

class Parser {
  #pos = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly errors: ConditionError[],
  ) {}

  peek(ahead = 0): Token {
    const t = this.tokens[Math.min(this.#pos + ahead, this.tokens.length - 1)];
    if (!t) throw new SyntaxFailure("no tokens");
    return t;
  }

  next(): Token {
    const t = this.peek();
    if (this.#pos < this.tokens.length - 1) this.#pos++;
    return t;
  }

  fail(t: Token, message: string, expected?: string[]): never {
    this.report(t, message, expected);
    throw new SyntaxFailure(message);
  }

  report(t: { start: number; end: number }, message: string, expected?: string[], suggestion?: string): void {
    const e: ConditionError = { offset: t.start, length: t.end - t.start, message };
    if (expected) e.expected = expected;
    if (suggestion !== undefined) e.suggestion = suggestion;
    this.errors.push(e);
  }

  isWord(t: Token, word: string): boolean {
    return t.kind === "ident" && t.text === word;
  }

  expectPunct(p: string, what: string): Token {
    const t = this.peek();
    if (t.kind !== "punct" || t.text !== p) this.fail(t, `expected '${p}' ${what}`, [p]);
    return this.next();
  }

  parseExpr(inFilter: boolean): Expr {
    let left = this.parseAnd(inFilter);
    while (this.isWord(this.peek(), "or")) {
      this.next();
      const right = this.parseAnd(inFilter);
      left = { kind: "or", left, right, start: left.start, end: right.end };
    }
    return left;
  }

  parseAnd(inFilter: boolean): Expr {
    let left = this.parseUnary(inFilter);
    while (this.isWord(this.peek(), "and")) {
      this.next();
      const right = this.parseUnary(inFilter);
      left = { kind: "and", left, right, start: left.start, end: right.end };
    }
    return left;
  }

  parseUnary(inFilter: boolean): Expr {
    const t = this.peek();
    if (this.isWord(t, "not")) {
      this.next();
      const operand = this.parseUnary(inFilter);
      return { kind: "not", operand, start: t.start, end: operand.end };
    }
    return this.parsePrimary(inFilter);
  }

  parsePrimary(inFilter: boolean): Expr {
    const t = this.peek();
    if (t.kind === "punct" && t.text === "(") {
      this.next();
      const inner = this.parseExpr(inFilter);
      const close = this.expectPunct(")", "to close the parenthesis");
      return { ...inner, start: t.start, end: close.end };
    }
    if (this.isWord(t, "true") || this.isWord(t, "false")) {
      this.next();
      return { kind: "const", value: t.text === "true", start: t.start, end: t.end };
    }
    if (t.kind === "ident" && !KEYWORDS.has(t.text)) return this.parsePostfix(this.parseValue(inFilter));
    if (t.kind === "number" || t.kind === "string") {
      this.fail(
        t,
        "a condition starts with an attribute, an aggregate or segment(…); put the literal on the right",
        ["an attribute", "count(…)", "segment('…')", "not", "("],
      );
    }
    const found = t.kind === "end" ? "the end of the condition" : `'${t.text}'`;
    return this.fail(t, `expected a condition, found ${found}`, [
      "an attribute",
      "count(…)",
      "segment('…')",
      "not",
      "(",
    ]);
  }

  parsePostfix(left: ValueExpr): Expr {
    const t = this.peek();
    if (t.kind === "op" && COMPARE_OPS.has(t.text)) {
      this.next();
      const right = this.parseLiteral();
      if (typeof right.value === "boolean" && t.text !== "==" && t.text !== "!=") {
        this.report(t, `true and false can only be compared with == or !=`, ["==", "!="]);
      }
      return { kind: "compare", op: t.text as CompareOp, left, right, start: left.start, end: right.end };
    }
    if (t.kind === "ident" && STRING_OPS.has(t.text)) {
      this.next();
      const right = this.parseLiteral();
      if (typeof right.value !== "string")
        this.report(right, `${t.text} needs a string`, ["a quoted string"]);
      return { kind: "compare", op: t.text as CompareOp, left, right, start: left.start, end: right.end };
    }
    const negated =
      this.isWord(t, "not") && (this.isWord(this.peek(1), "in") || this.isWord(this.peek(1), "exists"));
    if (negated) this.next();
    const u = this.peek();
    let test: Expr | null = null;
    if (this.isWord(u, "exists")) {
      this.next();
      test = { kind: "exists", operand: left, start: left.start, end: u.end };
    } else if (this.isWord(u, "in")) {
      this.next();
      const { items, end } = this.parseList();
      test = { kind: "in", left, items, start: left.start, end };
    }
    if (!test) return left;
    return negated ? { kind: "not", operand: test, start: test.start, end: test.end } : test;
  }

  parseList(): { items: LiteralExpr[]; end: number } {
    this.expectPunct("[", "to start the list, e.g. in ['a', 'b']");
    const items: LiteralExpr[] = [];
    let t = this.peek();
    if (t.kind === "punct" && t.text === "]") return { items, end: this.next().end };
    for (;;) {
      items.push(this.parseLiteral());
      t = this.peek();
      if (t.kind === "punct" && t.text === ",") {
        this.next();
        continue;
      }
      return { items, end: this.expectPunct("]", "or ',' in the list").end };
    }
  }

  parseLiteral(): LiteralExpr {
    const t = this.next();
    if (t.kind === "number") {
      if (!Number.isFinite(t.num)) this.report(t, "this number is too large");
      return { kind: "literal", value: Number.isFinite(t.num) ? t.num : 0, start: t.start, end: t.end };
    }
    if (t.kind === "string") return { kind: "literal", value: t.text, start: t.start, end: t.end };
    if (this.isWord(t, "true") || this.isWord(t, "false")) {
      return { kind: "literal", value: t.text === "true", start: t.start, end: t.end };
    }
    if (this.isWord(t, "null")) {
      this.report(
        t,
        "there is no null: a missing value fails every comparison; test it with `exists` or `not exists`",
      );
      return { kind: "literal", value: false, start: t.start, end: t.end };
    }
    if (t.kind === "duration") {
      this.report(t, "a duration is only an aggregate's window, e.g. count(page, 30d)");
      return { kind: "literal", value: 0, start: t.start, end: t.end };
    }
    return this.fail(t, "expected a number, a quoted string, true or false", [
      "a number",
      "a string",
      "true",
      "false",
    ]);
  }

  /** dotted identifiers: the first is already known to be an identifier */
  parsePath(): { words: Token[]; end: number } {
    const words = [this.next()];
    while (this.peek().kind === "punct" && this.peek().text === ".") {
      this.next();
      const w = this.peek();
      if (w.kind !== "ident") this.fail(w, "expected a name after '.'", ["a name"]);
      words.push(this.next());
    }
    const last = words[words.length - 1];
    return { words, end: last ? last.end : 0 };
  }

  parseValue(inFilter: boolean): ValueExpr {
    const head = this.peek();
    const after = this.peek(1);
    if (AGGREGATES.includes(head.text) && after.kind === "punct" && after.text === "(") {
      const agg = this.parseAggregate();
      if (inFilter) this.report(agg, "an aggregate's filter reads only the event's properties.<path>");
      return agg;
    }
    if (head.text === "segment") {
      const seg = this.parseSegment();
      if (inFilter) this.report(seg, "an aggregate's filter reads only the event's properties.<path>");
      return seg;
    }
    const { words, end } = this.parsePath();
    const names = words.map((w) => w.text);
    const root = names[0] ?? "";
    const start = head.start;
    const value = this.resolveAttribute(names, start, end, words);
    if (inFilter && value.kind !== "property") {
      this.report({ start, end }, "an aggregate's filter reads only the event's properties.<path>", [
        "properties.…",
      ]);
    }
    if (!inFilter && value.kind === "property") {
      this.report(
        { start, end },
        `${root} is only readable inside an aggregate's where, e.g. count(page where properties.section == 'x')`,
      );
    }
    return value;
  }

  resolveAttribute(names: string[], start: number, end: number, words: Token[]): ValueExpr {
    const [root = "", ...rest] = names;
    const restSpan = { start: words[1]?.start ?? end, end };
    if (root === "traits" || root === "properties") {
      if (rest.length === 0)
        this.report({ start, end }, `${root} needs a name, e.g. ${root}.city`, [`${root}.<name>`]);
      return { kind: root === "traits" ? "trait" : "property", path: rest, start, end };
    }
    if (root === "consent" || root === "reachable") {
      if (rest.length > 1 || (root === "consent" && rest.length === 0)) {
        this.report({ start, end }, `${root} takes one channel name, e.g. ${root}.email`, [
          `${root}.<channel>`,
        ]);
      }
      const channel = rest[0] ?? "";
      if (root === "consent") return { kind: "consent", channel, channelSpan: restSpan, start, end };
      return {
        kind: "reachable",
        channel: rest.length > 0 ? channel : null,
        channelSpan: rest.length ? restSpan : null,
        start,
        end,
      };
    }
    if (rest.length > 0 && (root === "stage" || root === "nps" || FIELDS.includes(root))) {
      this.report(
        restSpan,
        `${root} has no parts; did you mean traits.${names.join(".")}?`,
        undefined,
        `traits.${names.join(".")}`,
      );
    }
    if (root === "stage") return { kind: "stage", start, end };
    // the last NPS score is the score of the newest answer: one tree for the evaluator and the SQL compiler alike
    if (root === "nps") {
      const selector = { by: "name" as const, value: "nps_response", start, end };
      return {
        kind: "aggregate",
        fn: "last",
        selector,
        path: ["score"],
        filter: null,
        window: null,
        start,
        end,
      };
    }
    if (FIELDS.includes(root)) return { kind: "field", name: root as FieldName, start, end };
    if (root === "null") {
      this.report({ start, end }, "there is no null: test a missing value with `exists` or `not exists`");
    } else if (AGGREGATES.includes(root)) {
      this.report(
        { start, end },
        `${root} needs its events in parentheses, e.g. ${root}(order_completed, 30d)`,
        ["("],
      );
    } else {
      const suggestion = didYouMean(root, ATTRIBUTE_NAMES) ?? `traits.${names.join(".")}`;
      this.report(
        { start, end: words[0]?.end ?? end },
        `unknown attribute '${root}'`,
        ["an attribute"],
        suggestion,
      );
    }
    return { kind: "trait", path: names, start, end };
  }

  parseSegment(): ValueExpr {
    const head = this.next();
    this.expectPunct("(", "after segment, e.g. segment('b2b')");
    const name = this.peek();
    if (name.kind !== "string" && name.kind !== "ident")
      this.fail(name, "expected the segment's name in quotes", ["'name'"]);
    this.next();
    const close = this.expectPunct(")", "after the segment's name");
    return {
      kind: "segment",
      name: name.text,
      nameSpan: { start: name.start, end: name.end },
      start: head.start,
      end: close.end,
    };
  }

  parseAggregate(): AggregateExpr {
    const head = this.next();
    const fn = head.text as AggregateFn;
    this.next(); // (
    const selector = this.parseSelector();
    let path: string[] | null = null;
    if (this.peek().kind === "punct" && this.peek().text === ".") {
      this.next();
      const props = this.peek();
      if (!this.isWord(props, "properties"))
        this.fail(props, "expected properties.<name> after the event", ["properties"]);
      const { words, end } = this.parsePath();
      path = words.slice(1).map((w) => w.text);
      if (path.length === 0)
        this.report({ start: props.start, end }, "properties needs a name, e.g. properties.total");
      if (fn === "count")
        this.report(
          { start: props.start, end },
          "count counts events; sum, avg, min, max or last read a property",
        );
    } else if (fn !== "count") {
      this.report(
        selector,
        `${fn} needs the property it reads, e.g. ${fn}(order_completed.properties.total)`,
        [".properties.<name>"],
      );
    }
    let filter: Expr | null = null;
    if (this.isWord(this.peek(), "where")) {
      this.next();
      filter = this.parseExpr(true);
    }
    let window: Window | null = null;
    if (this.peek().kind === "punct" && this.peek().text === ",") {
      this.next();
      window = this.parseWindow();
    }
    const close = this.expectPunct(")", "to close the aggregate (its window comes after a comma)");
    return {
      kind: "aggregate",
      fn,
      selector,
      path: fn === "count" ? null : path,
      filter,
      window,
      start: head.start,
      end: close.end,
    };
  }

  parseSelector(): EventSelector {
    const t = this.peek();
    if (t.kind === "string") {
      this.next();
      return { by: "name", value: t.text, start: t.start, end: t.end };
    }
    if (t.kind !== "ident" || KEYWORDS.has(t.text))
      this.fail(t, "expected an event name or type", ["an event name", "page"]);
    this.next();
    const byType = (EVENT_TYPES as readonly string[]).includes(t.text);
    return { by: byType ? "type" : "name", value: t.text, start: t.start, end: t.end };
  }

  parseWindow(): Window {
    const t = this.next();
    if (this.isWord(t, "since_entry")) return { kind: "since_entry", start: t.start, end: t.end };
    if (t.kind !== "duration")
      this.fail(t, "expected a window: a duration such as 30d, or since_entry", ["30d", "since_entry"]);
    if (!(t.num > 0)) this.report(t, "a window must be longer than zero");
    else if (t.num > MAX_WINDOW_MS) this.report(t, "a window longer than 10 years (3653d) is not allowed");
    return { kind: "duration", ms: t.num, text: t.text, start: t.start, end: t.end };
  }
}

const KEYWORDS = new Set([
  "and",
  "or",
  "not",
  "in",
  "exists",
  "where",
  "true",
  "false",
  "contains",
  "starts_with",
  "ends_with",
]);
