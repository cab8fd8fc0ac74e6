// Splits a condition's source into tokens with offsets. Never throws: a bad character or an unterminated string
// becomes an error token, so the parser can report every problem with its position.
import type { ConditionError } from "./errors.ts";

export type TokenKind = "number" | "string" | "duration" | "ident" | "op" | "punct" | "end";

export interface Token {
  kind: TokenKind;
  start: number;
  end: number;
  /** identifier or operator text, string contents, or the duration's text */
  text: string;
  /** numbers; durations in milliseconds */
  num: number;
}

const UNIT_MS: Readonly<Record<string, number>> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_]/;
const DIGIT = /[0-9]/;

export function tokenize(src: string, errors: ConditionError[]): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const push = (kind: TokenKind, start: number, end: number, text: string, num = 0) =>
    tokens.push({ kind, start, end, text, num });
  while (i < src.length) {
    const c = src.charAt(i);
    if (/\s/.test(c)) {
      i++;
    } else if (DIGIT.test(c) || (c === "-" && DIGIT.test(src.charAt(i + 1)))) {
      i = lexNumber(src, i, push, errors);
    } else if (c === "'" || c === '"') {
      i = lexString(src, i, push, errors);
    } else if (IDENT_START.test(c)) {
      let j = i + 1;
      while (j < src.length && IDENT_PART.test(src.charAt(j))) j++;
      push("ident", i, j, src.slice(i, j));
      i = j;
    } else {
      i = lexSymbol(src, i, push, errors);
    }
  }
  push("end", src.length, src.length, "");
  return tokens;
}

type Push = (kind: TokenKind, start: number, end: number, text: string, num?: number) => void;

function lexNumber(src: string, start: number, push: Push, errors: ConditionError[]): number {
  const m = /^-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(src.slice(start));
  const numText = m ? m[0] : src.charAt(start);
  let j = start + numText.length;
  // a unit letter right after the digits makes a duration: 30d, 12h, 15m, 2w
  const unit = src.charAt(j);
  if (unit in UNIT_MS && !IDENT_PART.test(src.charAt(j + 1))) {
    j++;
    const text = src.slice(start, j);
    const amount = Number(numText);
    if (!/^-?[0-9]+$/.test(numText)) {
      errors.push({
        offset: start,
        length: j - start,
        message: `a duration is a whole number of ${unitName(unit)}`,
      });
    }
    push("duration", start, j, text, amount * (UNIT_MS[unit] ?? 0));
    return j;
  }
  if (IDENT_PART.test(src.charAt(j))) {
    let k = j;
    while (k < src.length && IDENT_PART.test(src.charAt(k))) k++;
    errors.push({
      offset: start,
      length: k - start,
      message: `'${src.slice(start, k)}' is neither a number nor a duration`,
      expected: ["a number", "a duration such as 30d, 12h, 15m or 2w"],
    });
    push("number", start, k, src.slice(start, k), Number.NaN);
    return k;
  }
  push("number", start, j, numText, Number(numText));
  return j;
}

function unitName(u: string): string {
  return { m: "minutes", h: "hours", d: "days", w: "weeks" }[u] ?? "units";
}

function lexString(src: string, start: number, push: Push, errors: ConditionError[]): number {
  const quote = src.charAt(start);
  let out = "";
  let j = start + 1;
  while (j < src.length && src.charAt(j) !== quote) {
    const ch = src.charAt(j);
    if (ch === "\\" && j + 1 < src.length) {
      const next = src.charAt(j + 1);
      out += next === "n" ? "\n" : next === "t" ? "\t" : next;
      j += 2;
    } else {
      out += ch;
      j++;
    }
  }
  if (j >= src.length) {
    errors.push({
      offset: start,
      length: src.length - start,
      message: "this string has no closing quote",
      expected: [quote],
    });
    push("string", start, src.length, out);
    return src.length;
  }
  push("string", start, j + 1, out);
  return j + 1;
}

const TWO_CHAR = new Set(["==", "!=", "<=", ">="]);
const ONE_CHAR_OP = new Set(["<", ">"]);
const PUNCT = new Set(["(", ")", "[", "]", ",", "."]);
const MISTAKES: Readonly<Record<string, string>> = {
  "&&": "and",
  "||": "or",
  "=": "==",
  "!": "not",
  "<>": "!=",
};

function lexSymbol(src: string, i: number, push: Push, errors: ConditionError[]): number {
  const two = src.slice(i, i + 2);
  if (TWO_CHAR.has(two)) {
    push("op", i, i + 2, two);
    return i + 2;
  }
  if (two === "&&" || two === "||" || two === "<>") {
    errors.push({ offset: i, length: 2, message: `'${two}' is not an operator`, suggestion: MISTAKES[two] });
    push("op", i, i + 2, MISTAKES[two] ?? two);
    return i + 2;
  }
  const c = src.charAt(i);
  if (ONE_CHAR_OP.has(c)) {
    push("op", i, i + 1, c);
    return i + 1;
  }
  if (PUNCT.has(c)) {
    push("punct", i, i + 1, c);
    return i + 1;
  }
  if (c === "=" || c === "!") {
    errors.push({ offset: i, length: 1, message: `'${c}' is not an operator`, suggestion: MISTAKES[c] });
    push(c === "=" ? "op" : "ident", i, i + 1, MISTAKES[c] ?? c);
    return i + 1;
  }
  // a whole code point, so the error never splits a surrogate pair
  const cp = src.codePointAt(i) ?? 0;
  const len = cp > 0xffff ? 2 : 1;
  errors.push({ offset: i, length: len, message: `unexpected character '${src.slice(i, i + len)}'` });
  return i + len;
}
