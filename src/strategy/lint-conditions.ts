// Conditions that can never hold, found cheaply: a constant false, a stage constraint no stage satisfies, or
// numeric comparisons on one value that contradict each other (`orders < 0`, `orders == 1 and orders == 2`,
// `days_since_last_order > 30 and days_since_last_order < 10`). Anything subtler is left to the data checks.
import type { Expr, ValueExpr } from "../core/condition/index.ts";
import { stageSet } from "./map-journey.ts";
import type { Strategy } from "./types.ts";

const NON_NEGATIVE = new Set([
  "orders",
  "days_since_last_order",
  "days_since_first_order",
  "days_since_last_seen",
  "days_since_first_seen",
]);

interface Range {
  lo: number;
  loOpen: boolean;
  hi: number;
  hiOpen: boolean;
  integer: boolean;
  /** values required by == and in; null when none */
  allowed: Set<number> | null;
  excluded: Set<number>;
}

/** A stable name for the value compared, or null when it is not a number the analysis knows. */
function numericKey(v: ValueExpr): { key: string; nonNegative: boolean; integer: boolean } | null {
  if (v.kind === "field" && (NON_NEGATIVE.has(v.name) || v.name === "revenue" || v.name === "aov")) {
    return { key: v.name, nonNegative: NON_NEGATIVE.has(v.name), integer: NON_NEGATIVE.has(v.name) };
  }
  if (v.kind === "aggregate" && v.fn === "count") {
    const key = JSON.stringify(v, (k, val) =>
      k === "start" || k === "end" || k === "text" ? undefined : val,
    );
    return { key, nonNegative: true, integer: true };
  }
  return null;
}

function conjuncts(e: Expr): Expr[] {
  return e.kind === "and" ? [...conjuncts(e.left), ...conjuncts(e.right)] : [e];
}

function narrow(r: Range, op: string, n: number): void {
  if (op === "==") r.allowed = new Set([...(r.allowed ?? [n])].filter((x) => x === n));
  else if (op === "!=") r.excluded.add(n);
  else if (op === ">" || op === ">=") {
    if (n > r.lo || (n === r.lo && op === ">")) [r.lo, r.loOpen] = [n, op === ">"];
  } else if (op === "<" || op === "<=") {
    if (n < r.hi || (n === r.hi && op === "<")) [r.hi, r.hiOpen] = [n, op === "<"];
  }
}

function feasible(r: Range): boolean {
  const inside = (x: number) =>
    (r.loOpen ? x > r.lo : x >= r.lo) &&
    (r.hiOpen ? x < r.hi : x <= r.hi) &&
    !r.excluded.has(x) &&
    (!r.integer || Number.isInteger(x));
  if (r.allowed !== null) return [...r.allowed].some(inside);
  let lo = r.lo;
  let hi = r.hi;
  if (r.integer) {
    lo = r.loOpen ? Math.floor(lo) + 1 : Math.ceil(lo);
    hi = r.hiOpen ? Math.ceil(hi) - 1 : Math.floor(hi);
    return lo <= hi && !(lo === hi && r.excluded.has(lo));
  }
  if (lo > hi) return false;
  return lo < hi || (!r.loOpen && !r.hiOpen && !r.excluded.has(lo));
}

/** Numeric comparisons joined by `and` that no value satisfies. */
function contradictory(atoms: readonly Expr[]): boolean {
  const ranges = new Map<string, Range>();
  for (const a of atoms) {
    if (a.kind !== "compare" && a.kind !== "in") continue;
    const k = numericKey(a.left);
    if (!k) continue;
    let r = ranges.get(k.key);
    if (!r) {
      r = {
        lo: k.nonNegative ? 0 : -Infinity,
        loOpen: false,
        hi: Infinity,
        hiOpen: false,
        integer: k.integer,
        allowed: null,
        excluded: new Set(),
      };
      ranges.set(k.key, r);
    }
    if (a.kind === "compare" && typeof a.right.value === "number") narrow(r, a.op, a.right.value);
    if (a.kind === "in") {
      const items = new Set(a.items.flatMap((i) => (typeof i.value === "number" ? [i.value] : [])));
      r.allowed = r.allowed === null ? items : new Set([...r.allowed].filter((x) => items.has(x)));
    }
  }
  return [...ranges.values()].some((r) => !feasible(r));
}

/** True when the condition holds for no customer whatever the data (as far as this cheap analysis can tell). */
export function neverHolds(e: Expr, strategy: Strategy, seen: ReadonlySet<string> = new Set()): boolean {
  const stages = stageSet(e, strategy);
  if (stages !== null && stages.size === 0) return true;
  switch (e.kind) {
    case "const":
      return !e.value;
    case "or":
      return neverHolds(e.left, strategy, seen) && neverHolds(e.right, strategy, seen);
    case "and": {
      const parts = conjuncts(e);
      return parts.some((p) => neverHolds(p, strategy, seen)) || contradictory(parts);
    }
    case "not":
      return e.operand.kind === "const" && e.operand.value;
    case "compare":
    case "in":
      return contradictory([e]);
    case "segment": {
      const seg = strategy.segments[e.name];
      return (
        seg !== undefined &&
        !seen.has(e.name) &&
        neverHolds(seg.condition.ast, strategy, new Set([...seen, e.name]))
      );
    }
    default:
      return false;
  }
}

/** True when the condition holds for every customer: a constant true (the usual catch-all last stage). */
export function alwaysHolds(e: Expr): boolean {
  return e.kind === "const" && e.value;
}
