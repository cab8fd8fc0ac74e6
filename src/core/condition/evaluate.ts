// Evaluates a condition for one customer in memory. The rules are those of docs/conditions.md and are mirrored
// exactly by the SQL compiler: two-valued logic (a missing or wrong-typed operand fails every comparison), a
// literal decides the type a comparison is made in, strings order by code point.
import {
  type AggregateExpr,
  type CompareOp,
  DAYS_SINCE_BASE,
  type Expr,
  isValueField,
  type LiteralExpr,
  type ValueExpr,
} from "./ast.ts";
import {
  type ConditionEnv,
  type CustomerFacts,
  contactAddress,
  type Subject,
  type SubjectEvent,
} from "./subject.ts";
import { compareCodePoints, DAY_MS, decimalSum, jsonAt, parseTimeLiteral } from "./values.ts";

export type RuntimeValue =
  | { t: "number"; v: number }
  | { t: "string"; v: string }
  | { t: "time"; v: number }
  | { t: "boolean"; v: boolean }
  | { t: "other" }
  | null;

export interface EvalContext {
  subject: Subject;
  /** epoch milliseconds */
  now: number;
  env: ConditionEnv;
  /** segments (and the stage list) being evaluated, to refuse a definition that refers to itself */
  visiting: ReadonlySet<string>;
  /** the event an aggregate's filter is looking at */
  event: SubjectEvent | null;
}

const STAGE_KEY = "\u0000stage";

export function makeContext(subject: Subject, now: Date, env: ConditionEnv): EvalContext {
  return { subject, now: now.getTime(), env, visiting: new Set(), event: null };
}

export function evaluate(ast: Expr, subject: Subject, now: Date, env: ConditionEnv): boolean {
  return evalBool(ast, makeContext(subject, now, env));
}

/** Whether one event passes a filter parsed with `parseCondition(source, { eventFilter: true })`. */
export function matchesEvent(filter: Expr, event: SubjectEvent, now: Date, env: ConditionEnv): boolean {
  const ctx = makeContext({ customer: NO_CUSTOMER, events: [] }, now, env);
  return evalBool(filter, { ...ctx, event });
}

const NO_CUSTOMER: CustomerFacts = {
  customer_id: "",
  user_id: null,
  email: null,
  phone: null,
  telegram_chat_id: null,
  traits: {},
  timezone: null,
  locale: null,
  consents: {},
  preferred_channel: null,
  orders: 0,
  revenue: 0,
  first_order_at: null,
  last_order_at: null,
  first_seen_at: null,
  last_seen_at: null,
};

/** The first stage whose condition holds, or null. */
export function evaluateStage(subject: Subject, now: Date, env: ConditionEnv): string | null {
  return stageOf(makeContext(subject, now, env));
}

export function evalBool(e: Expr, ctx: EvalContext): boolean {
  switch (e.kind) {
    case "const":
      return e.value;
    case "and":
      return evalBool(e.left, ctx) && evalBool(e.right, ctx);
    case "or":
      return evalBool(e.left, ctx) || evalBool(e.right, ctx);
    case "not":
      return !evalBool(e.operand, ctx);
    case "compare":
      return compareValue(evalValue(e.left, ctx), e.op, e.right);
    case "in": {
      const v = evalValue(e.left, ctx);
      return e.items.some((item) => compareValue(v, "==", item));
    }
    case "exists":
      return evalValue(e.operand, ctx) !== null;
    default: {
      const v = evalValue(e, ctx);
      return v !== null && v.t === "boolean" && v.v;
    }
  }
}

function order(op: CompareOp, cmp: number): boolean {
  switch (op) {
    case "==":
      return cmp === 0;
    case "!=":
      return cmp !== 0;
    case "<":
      return cmp < 0;
    case "<=":
      return cmp <= 0;
    case ">":
      return cmp > 0;
    case ">=":
      return cmp >= 0;
    default:
      return false;
  }
}

/** A comparison is made in the literal's type; any other value (or none) fails it. */
export function compareValue(v: RuntimeValue, op: CompareOp, lit: LiteralExpr): boolean {
  if (v === null) return false;
  const lv = lit.value;
  if (typeof lv === "number") {
    return v.t === "number" && order(op, v.v < lv ? -1 : v.v > lv ? 1 : 0);
  }
  if (typeof lv === "boolean") {
    if (v.t !== "boolean") return false;
    return op === "==" ? v.v === lv : op === "!=" ? v.v !== lv : false;
  }
  if (v.t === "string") {
    if (op === "contains") return v.v.includes(lv);
    if (op === "starts_with") return v.v.startsWith(lv);
    if (op === "ends_with") return v.v.endsWith(lv);
    return order(op, compareCodePoints(v.v, lv));
  }
  if (v.t === "time") {
    const t = parseTimeLiteral(lv);
    return t !== null && order(op, v.v < t ? -1 : v.v > t ? 1 : 0);
  }
  return false;
}

export function fromJson(x: unknown): RuntimeValue {
  if (x === null || x === undefined) return null;
  if (typeof x === "number") return { t: "number", v: x };
  if (typeof x === "string") return { t: "string", v: x };
  if (typeof x === "boolean") return { t: "boolean", v: x };
  return { t: "other" };
}

export function consentState(c: CustomerFacts, channel: string): string {
  const entry: unknown = Object.hasOwn(c.consents, channel) ? c.consents[channel] : undefined;
  const state = jsonAt(entry, ["state"]);
  return typeof state === "string" ? state : "unknown";
}

function present(s: string | null): boolean {
  return s !== null && s !== "";
}

export function reachableOn(c: CustomerFacts, channel: string, env: ConditionEnv): boolean {
  if (!Object.hasOwn(env.channels, channel)) return false;
  const kind = env.channels[channel];
  const contact = kind === "none" || (kind !== undefined && present(contactAddress(c, kind)));
  return contact && consentState(c, channel) !== "unsubscribed";
}

function enter(ctx: EvalContext, key: string): EvalContext {
  if (ctx.visiting.has(key)) {
    throw new Error(`the condition refers to itself through ${key === STAGE_KEY ? "stage" : key}`);
  }
  return { ...ctx, visiting: new Set([...ctx.visiting, key]) };
}

export function segmentValue(name: string, ctx: EvalContext): boolean {
  const def = ctx.env.segments.get(name);
  return def !== undefined && evalBool(def, enter(ctx, `segment('${name}')`));
}

export function stageOf(ctx: EvalContext): string | null {
  const inner = enter(ctx, STAGE_KEY);
  for (const [name, cond] of ctx.env.stages) if (evalBool(cond, inner)) return name;
  return null;
}

function fieldValue(name: string, c: CustomerFacts, now: number): RuntimeValue {
  if (isValueField(name)) {
    const v = c.value?.[name] ?? null;
    if (v === null) return null;
    return typeof v === "string" ? { t: "string", v } : { t: "number", v };
  }
  switch (name) {
    case "orders":
      return { t: "number", v: c.orders };
    case "revenue":
      return { t: "number", v: c.revenue };
    case "aov":
      return c.orders !== 0 ? { t: "number", v: c.revenue / c.orders } : null;
    case "first_order_at":
    case "last_order_at":
    case "first_seen_at":
    case "last_seen_at": {
      const d = c[name];
      return d ? { t: "time", v: d.getTime() } : null;
    }
    case "email":
    case "phone":
    case "telegram_chat_id":
    case "user_id":
    case "timezone":
    case "locale":
    case "preferred_channel": {
      const s = c[name];
      return s === null ? null : { t: "string", v: s };
    }
    default: {
      const base = DAYS_SINCE_BASE[name];
      const d = base ? c[base] : null;
      return d ? { t: "number", v: Math.floor((now - d.getTime()) / DAY_MS) } : null;
    }
  }
}

export function evalValue(v: ValueExpr, ctx: EvalContext): RuntimeValue {
  const c = ctx.subject.customer;
  switch (v.kind) {
    case "field":
      return fieldValue(v.name, c, ctx.now);
    case "trait":
      return fromJson(jsonAt(c.traits, v.path));
    case "property":
      if (!ctx.event) throw new Error("properties.… is only readable inside an aggregate's filter");
      return fromJson(jsonAt(ctx.event.properties, v.path));
    case "consent":
      return { t: "string", v: consentState(c, v.channel) };
    case "reachable": {
      const channels = v.channel === null ? Object.keys(ctx.env.channels) : [v.channel];
      return { t: "boolean", v: channels.some((ch) => reachableOn(c, ch, ctx.env)) };
    }
    case "stage": {
      const s = stageOf(ctx);
      return s === null ? null : { t: "string", v: s };
    }
    case "segment":
      return { t: "boolean", v: segmentValue(v.name, ctx) };
    case "aggregate":
      return aggregateValue(v, ctx);
  }
}

export function matchingEvents(agg: AggregateExpr, ctx: EvalContext): SubjectEvent[] {
  const sel = agg.selector;
  const w = agg.window;
  const entry = ctx.subject.entryAt ?? null;
  return ctx.subject.events.filter((e) => {
    if (sel.by === "type" ? e.type !== sel.value : e.type !== "track" || e.name !== sel.value) return false;
    const at = e.occurred_at.getTime();
    if (w?.kind === "duration" && !(at > ctx.now - w.ms)) return false;
    if (w?.kind === "since_entry" && (entry === null || at < entry.getTime())) return false;
    return agg.filter === null || evalBool(agg.filter, { ...ctx, event: e });
  });
}

/** Newest first; equal times: the greatest message id first. */
export function newestFirst(a: SubjectEvent, b: SubjectEvent): number {
  const d = b.occurred_at.getTime() - a.occurred_at.getTime();
  return d !== 0 ? d : compareCodePoints(b.message_id, a.message_id);
}

function aggregateValue(agg: AggregateExpr, ctx: EvalContext): RuntimeValue {
  const events = matchingEvents(agg, ctx);
  if (agg.fn === "count") return { t: "number", v: events.length };
  const path = agg.path ?? [];
  if (agg.fn === "last") {
    const newest = [...events].sort(newestFirst)[0];
    return newest ? fromJson(jsonAt(newest.properties, path)) : null;
  }
  const nums: number[] = [];
  for (const e of events) {
    const x = jsonAt(e.properties, path);
    if (typeof x === "number") nums.push(x);
  }
  if (agg.fn === "sum") return { t: "number", v: decimalSum(nums) };
  if (nums.length === 0) return null;
  if (agg.fn === "avg") return { t: "number", v: decimalSum(nums) / nums.length };
  const pick = agg.fn === "min" ? Math.min : Math.max;
  return { t: "number", v: nums.reduce((a, b) => pick(a, b)) };
}
