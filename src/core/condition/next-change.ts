// The earliest moment after `now` at which a condition's answer can change with no new data: an event leaving a
// duration window, or a days_since_… value crossing a compared number. Exact for each comparison on its own;
// for a combination it is the earliest change of any part (possibly early, never late), which is what the
// membership scheduler needs: a needless re-check costs little, a late one is a wrong answer.
import type { Expr, ValueExpr } from "./ast.ts";
import { DAYS_SINCE_BASE } from "./ast.ts";
import { type EvalContext, evalBool, makeContext, matchingEvents } from "./evaluate.ts";
import type { ConditionEnv, Subject } from "./subject.ts";
import { DAY_MS, daysCandidates } from "./values.ts";

/** Beyond this many candidate moments without a change, the next candidate is returned (early is allowed). */
const MAX_CANDIDATES = 256;

export function nextChange(ast: Expr, subject: Subject, now: Date, env: ConditionEnv): Date | null {
  const t = exprNext(ast, makeContext(subject, now, env));
  return t === null ? null : new Date(t);
}

function earliest(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

function exprNext(e: Expr, ctx: EvalContext): number | null {
  switch (e.kind) {
    case "const":
      return null;
    case "and":
    case "or":
      return earliest(exprNext(e.left, ctx), exprNext(e.right, ctx));
    case "not":
      return exprNext(e.operand, ctx);
    case "compare":
    case "in":
      return atomNext(e, e.left, ctx);
    case "exists":
      return atomNext(e, e.operand, ctx);
    default:
      return atomNext(e, e, ctx);
  }
}

function guarded(ctx: EvalContext, key: string): EvalContext {
  if (ctx.visiting.has(key)) throw new Error(`the condition refers to itself through ${key}`);
  return { ...ctx, visiting: new Set([...ctx.visiting, key]) };
}

/** The stage changes only when a stage up to the current one changes its answer. */
function stageNext(ctx: EvalContext): number | null {
  const inner = guarded(ctx, "stage");
  let acc: number | null = null;
  for (const [, cond] of ctx.env.stages) {
    acc = earliest(acc, exprNext(cond, inner));
    if (evalBool(cond, inner)) break;
  }
  return acc;
}

function atomNext(atom: Expr, v: ValueExpr, ctx: EvalContext): number | null {
  if (v.kind === "segment") {
    const def = ctx.env.segments.get(v.name);
    return def ? exprNext(def, guarded(ctx, `segment('${v.name}')`)) : null;
  }
  if (v.kind === "stage") return stageNext(ctx);
  const candidates = timeCandidates(atom, v, ctx);
  if (candidates.length === 0) return null;
  const current = evalBool(atom, ctx);
  for (let i = 0; i < candidates.length; i++) {
    const t = candidates[i] ?? 0;
    if (i >= MAX_CANDIDATES || evalBool(atom, { ...ctx, now: t }) !== current) return t;
  }
  return null;
}

/** Moments after now at which the value itself changes, ascending. */
function timeCandidates(atom: Expr, v: ValueExpr, ctx: EvalContext): number[] {
  const out = new Set<number>();
  if (v.kind === "field") {
    const baseField = DAYS_SINCE_BASE[v.name];
    const base = baseField ? ctx.subject.customer[baseField] : null;
    if (!base) return [];
    const d = Math.floor((ctx.now - base.getTime()) / DAY_MS);
    for (const n of comparedNumbers(atom)) {
      for (const k of daysCandidates(n)) if (k > d) out.add(base.getTime() + k * DAY_MS);
    }
  } else if (v.kind === "aggregate" && v.window?.kind === "duration") {
    const ms = v.window.ms;
    for (const e of matchingEvents(v, ctx)) {
      const leaves = e.occurred_at.getTime() + ms;
      if (leaves > ctx.now) out.add(leaves);
    }
  }
  return [...out].sort((a, b) => a - b);
}

/** The number literals an atom compares its value with (a days_since value changes its answer only near them). */
export function comparedNumbers(atom: Expr): number[] {
  const lits = atom.kind === "compare" ? [atom.right] : atom.kind === "in" ? atom.items : [];
  return lits.flatMap((l) => (typeof l.value === "number" ? [l.value] : []));
}
