// Checks a parsed condition against its surroundings: the strategy's channels, segment and stage names, whether
// `since_entry` and `stage` may be used here, and whether each comparison's literal has the value's type (a
// mismatch would make the comparison always false, which is never what the author meant).
import {
  type CompareOp,
  type Expr,
  type LiteralExpr,
  type Span,
  type ValueExpr,
  valueType,
  type Window,
} from "./ast.ts";
import { type ConditionError, didYouMean } from "./errors.ts";
import type { ContactKind } from "./subject.ts";
import { parseTimeLiteral } from "./values.ts";

export interface CheckEnv {
  channels: Readonly<Record<string, ContactKind>>;
  segmentNames: readonly string[];
  stageNames: readonly string[];
  allowSinceEntry: boolean;
  allowStage: boolean;
}

export const CONSENT_STATES = ["opted_in", "unsubscribed", "unknown"] as const;
const MAX_WINDOW_MS = 3653 * 86_400_000;

export function checkCondition(ast: Expr, env: CheckEnv): ConditionError[] {
  const errors: ConditionError[] = [];
  const report = (span: Span, message: string, extra: Partial<ConditionError> = {}) =>
    errors.push({ offset: span.start, length: span.end - span.start, message, ...extra });
  checkBoolean(ast, env, report);
  return errors.sort((a, b) => a.offset - b.offset);
}

type Report = (span: Span, message: string, extra?: Partial<ConditionError>) => void;

function describe(v: ValueExpr): string {
  switch (v.kind) {
    case "field":
      return v.name;
    case "aggregate":
      return `${v.fn}(…)`;
    case "consent":
      return `consent.${v.channel}`;
    default:
      return v.kind;
  }
}

function checkBoolean(e: Expr, env: CheckEnv, report: Report): void {
  switch (e.kind) {
    case "const":
      return;
    case "and":
    case "or":
      checkBoolean(e.left, env, report);
      checkBoolean(e.right, env, report);
      return;
    case "not":
      checkBoolean(e.operand, env, report);
      return;
    case "compare":
      checkValue(e.left, env, report);
      checkLiteral(e.left, e.op, e.right, env, report);
      return;
    case "in":
      checkValue(e.left, env, report);
      for (const item of e.items) checkLiteral(e.left, "==", item, env, report);
      return;
    case "exists":
      checkValue(e.operand, env, report);
      return;
    default: {
      checkValue(e, env, report);
      const t = valueType(e);
      if (t !== "boolean" && t !== "dynamic") {
        report(
          e,
          `${describe(e)} is a ${t}, not a condition: compare it, e.g. ${describe(e)} ${example(t)}`,
          {
            expected: ["==", "!=", "<", ">", "in", "exists"],
          },
        );
      }
    }
  }
}

function example(t: string): string {
  return t === "number" ? ">= 1" : t === "time" ? "> '2025-01-01'" : "== 'value'";
}

function checkValue(v: ValueExpr, env: CheckEnv, report: Report): void {
  switch (v.kind) {
    case "consent":
    case "reachable":
      if (v.channel !== null && !Object.hasOwn(env.channels, v.channel)) {
        const suggestion = didYouMean(v.channel, Object.keys(env.channels));
        report(v.channelSpan ?? v, `unknown channel '${v.channel}'`, {
          expected: Object.keys(env.channels),
          ...(suggestion ? { suggestion } : {}),
        });
      }
      return;
    case "segment":
      if (!env.segmentNames.includes(v.name)) {
        const suggestion = didYouMean(v.name, env.segmentNames);
        report(v.nameSpan, `unknown segment '${v.name}'`, {
          expected: [...env.segmentNames],
          ...(suggestion ? { suggestion } : {}),
        });
      }
      return;
    case "stage":
      if (!env.allowStage)
        report(v, "stage cannot be used here (a stage's own condition cannot read the stage)");
      return;
    case "aggregate":
      if (v.window) checkWindow(v.window, env, report);
      if (v.filter) checkBoolean(v.filter, env, report);
      return;
    default:
      return;
  }
}

function checkWindow(w: Window, env: CheckEnv, report: Report): void {
  if (w.kind === "since_entry") {
    if (!env.allowSinceEntry)
      report(w, "since_entry is only available inside a scenario (exit and branch conditions)");
  } else if (!(w.ms > 0)) {
    report(w, "a window must be longer than zero");
  } else if (w.ms > MAX_WINDOW_MS) {
    report(w, "a window longer than 10 years (3653d) is not allowed");
  }
}

function checkLiteral(left: ValueExpr, op: CompareOp, lit: LiteralExpr, env: CheckEnv, report: Report): void {
  const t = valueType(left);
  const litType = typeof lit.value;
  const stringOp = op === "contains" || op === "starts_with" || op === "ends_with";
  const name = describe(left);
  if (t === "dynamic") return;
  if (stringOp && t !== "string") {
    report(lit, `${op} works on strings, and ${name} is a ${t}`);
    return;
  }
  if (t === "time") {
    if (litType !== "string" || parseTimeLiteral(lit.value as string) === null) {
      report(
        lit,
        `${name} is a time: compare it with an ISO date or date-time such as '2025-01-31' or '2025-01-31T12:00:00Z'`,
        {
          expected: ["'YYYY-MM-DD'", "'YYYY-MM-DDTHH:MM:SSZ'"],
        },
      );
    }
    return;
  }
  const wanted = t === "boolean" ? "boolean" : t;
  if (litType !== wanted) {
    report(lit, `${name} is a ${t}, so it is never equal to or ordered against a ${litType}`, {
      expected: [`a ${t}`],
    });
    return;
  }
  if (typeof lit.value !== "string" || stringOp) return;
  if (left.kind === "consent" && !(CONSENT_STATES as readonly string[]).includes(lit.value)) {
    const suggestion = didYouMean(lit.value, CONSENT_STATES);
    report(lit, `a consent is 'opted_in', 'unsubscribed' or 'unknown', not '${lit.value}'`, {
      expected: [...CONSENT_STATES],
      ...(suggestion ? { suggestion } : {}),
    });
  }
  if (left.kind === "stage" && (op === "==" || op === "!=") && !env.stageNames.includes(lit.value)) {
    const suggestion = didYouMean(lit.value, env.stageNames);
    report(lit, `unknown stage '${lit.value}'`, {
      expected: [...env.stageNames],
      ...(suggestion ? { suggestion } : {}),
    });
  }
}
