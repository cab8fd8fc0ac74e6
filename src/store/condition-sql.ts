// Compiles conditions to one set-based query over a workspace's whole base (or a list of customers): every
// distinct event aggregate is computed in one pass over the events, grouped by customer (`last` in its own
// DISTINCT ON pass), joined to the customers, and each condition becomes one boolean column. The rules are the
// in-memory evaluator's (src/core/condition/evaluate.ts), clause for clause, so both give the same answers.
// Every literal and every name from a condition travels as a bind parameter; no user text enters the SQL.
import type {
  AggregateExpr,
  CompareOp,
  Expr,
  LiteralExpr,
  ValueExpr,
  Window,
} from "../core/condition/ast.ts";
import { DAYS_SINCE_BASE, isValueField, VALUE_FIELDS } from "../core/condition/ast.ts";
import { compareValue } from "../core/condition/evaluate.ts";
import { comparedNumbers } from "../core/condition/next-change.ts";
import type { ConditionEnv } from "../core/condition/subject.ts";
import { DAY_MS, daysCandidates, parseTimeLiteral } from "../core/condition/values.ts";

export interface SelectionRequest {
  workspaceId: number;
  now: Date;
  env: ConditionEnv;
  conditions: readonly Expr[];
  withStage: boolean;
  withNextChange: boolean;
  customerIds?: readonly string[];
  entryAt?: Date;
}

type SqlType = "num" | "float" | "str" | "time" | "bool" | "json";
interface SqlValue {
  sql: string;
  t: SqlType;
  /** days-since fields: the time column they count from, so comparisons become comparisons of times */
  since?: string;
  /** json only: the value as text (`#>>`), compared first because it is much cheaper than reading the jsonb */
  text?: string;
}

interface Aggregate {
  i: number;
  agg: AggregateExpr;
  match: string;
  /** the selector alone (type, or track name): aggregates sharing it share one pass over events */
  selector: string;
  selectorKey: string;
  needFirst: boolean;
}

const FALSE = "FALSE";
/** days-since comparisons further out than this (about 270 years) keep the day arithmetic */
const MAX_SINCE_DAYS = 100_000;

class Compiler {
  readonly values: unknown[] = [];
  readonly aggregates = new Map<string, Aggregate>();
  usesStage = false;
  usesValue = false;
  stagePartsDone = false;

  constructor(readonly req: SelectionRequest) {}

  p(v: unknown, cast: string): string {
    this.values.push(v);
    return `$${this.values.length}::${cast}`;
  }

  bool(e: Expr, visiting: ReadonlySet<string>, inEvent: boolean): string {
    switch (e.kind) {
      case "const":
        return e.value ? "TRUE" : FALSE;
      case "and":
      case "or":
        return `(${this.bool(e.left, visiting, inEvent)} ${e.kind.toUpperCase()} ${this.bool(e.right, visiting, inEvent)})`;
      case "not":
        return `(NOT ${this.bool(e.operand, visiting, inEvent)})`;
      case "compare":
        return this.compare(this.value(e.left, visiting, inEvent), e.op, e.right);
      case "in": {
        const v = this.value(e.left, visiting, inEvent);
        const parts = e.items.map((item) => this.compare(v, "==", item)).filter((s) => s !== FALSE);
        return parts.length === 0 ? FALSE : `(${parts.join(" OR ")})`;
      }
      case "exists": {
        const v = this.value(e.operand, visiting, inEvent);
        return v.t === "json"
          ? `COALESCE(jsonb_typeof(${v.sql}) <> 'null', FALSE)`
          : `(${v.sql} IS NOT NULL)`;
      }
      default: {
        const v = this.value(e, visiting, inEvent);
        if (v.t === "bool") return v.sql;
        return v.t === "json" ? `COALESCE(${v.sql} = 'true'::jsonb, FALSE)` : FALSE;
      }
    }
  }

  compare(v: SqlValue, op: CompareOp, lit: LiteralExpr): string {
    const lv = lit.value;
    const stringOp = op === "contains" || op === "starts_with" || op === "ends_with";
    const sqlOp = op === "==" ? "=" : op === "!=" ? "<>" : op;
    const jsonIs = (type: string, then: string) =>
      `COALESCE(CASE WHEN jsonb_typeof(${v.sql}) = '${type}' THEN ${then} END, FALSE)`;
    if (typeof lv === "number") {
      if (stringOp) return FALSE;
      if (v.since) {
        const byTime = this.sinceCompare(v.since, op, lv);
        if (byTime) return byTime;
      }
      if (v.t === "num") return `COALESCE(${v.sql} ${sqlOp} ${this.p(String(lv), "numeric")}, FALSE)`;
      if (v.t === "float") return `COALESCE(${v.sql} ${sqlOp} ${this.p(String(lv), "float8")}, FALSE)`;
      if (v.t === "json")
        return jsonIs("number", `(${v.sql})::numeric ${sqlOp} ${this.p(String(lv), "numeric")}`);
      return FALSE;
    }
    if (typeof lv === "boolean") {
      if (op !== "==" && op !== "!=") return FALSE;
      if (v.t === "bool") return `COALESCE(${v.sql} ${sqlOp} ${this.p(lv, "boolean")}, FALSE)`;
      if (v.t === "json") return jsonIs("boolean", `(${v.sql})::boolean ${sqlOp} ${this.p(lv, "boolean")}`);
      return FALSE;
    }
    if (v.t === "str") return `COALESCE(${this.stringCompare(v.sql, op, lv)}, FALSE)`;
    if (v.t === "json") {
      // The text comparison first: it rejects most rows before the type is looked at.
      const text = v.text ?? `(${v.sql} #>> '{}')`;
      return `COALESCE(${this.stringCompare(text, op, lv)} AND jsonb_typeof(${v.sql}) = 'string', FALSE)`;
    }
    if (v.t === "time" && !stringOp) {
      const t = parseTimeLiteral(lv);
      return t === null ? FALSE : `COALESCE(${v.sql} ${sqlOp} ${this.p(new Date(t), "timestamptz")}, FALSE)`;
    }
    return FALSE;
  }

  /**
   * `days_since_x OP n` as a comparison of x with a moment: whole days since x are at least k exactly when
   * x <= now - k days. A time column compared with a constant costs a fraction of the day arithmetic.
   * Null when n is too far out for a timestamp (the arithmetic form is used then).
   */
  sinceCompare(column: string, op: CompareOp, n: number): string | null {
    if (!(Math.abs(n) <= MAX_SINCE_DAYS)) return null;
    const x = `x.${column}`;
    const atLeast = (k: number) =>
      `${x} <= ${this.p(new Date(this.req.now.getTime() - k * DAY_MS), "timestamptz")}`;
    const below = (k: number) =>
      `${x} > ${this.p(new Date(this.req.now.getTime() - k * DAY_MS), "timestamptz")}`;
    const whole = Number.isInteger(n);
    switch (op) {
      case ">":
        return `COALESCE(${atLeast(Math.floor(n) + 1)}, FALSE)`;
      case ">=":
        return `COALESCE(${atLeast(Math.ceil(n))}, FALSE)`;
      case "<":
        return `COALESCE(${below(Math.ceil(n))}, FALSE)`;
      case "<=":
        return `COALESCE(${below(Math.floor(n) + 1)}, FALSE)`;
      case "==":
        return whole ? `COALESCE(${atLeast(n)} AND ${below(n + 1)}, FALSE)` : FALSE;
      case "!=":
        return whole ? `COALESCE(NOT (${atLeast(n)} AND ${below(n + 1)}), FALSE)` : `(${x} IS NOT NULL)`;
      default:
        return FALSE;
    }
  }

  stringCompare(s: string, op: CompareOp, lit: string): string {
    const q = this.p(lit, "text");
    if (op === "contains") return `(strpos(${s}, ${q}) > 0)`;
    if (op === "starts_with") return `(left(${s}, length(${q})) COLLATE "C" = ${q})`;
    if (op === "ends_with") return `(right(${s}, length(${q})) COLLATE "C" = ${q})`;
    const sqlOp = op === "==" ? "=" : op === "!=" ? "<>" : op;
    return `(${s} COLLATE "C" ${sqlOp} ${q})`;
  }

  consent(channel: string): string {
    const ch = this.p(channel, "text");
    return `(CASE WHEN jsonb_typeof(x.consents -> ${ch} -> 'state') = 'string' THEN x.consents -> ${ch} ->> 'state' ELSE 'unknown' END)`;
  }

  reachable(channel: string): string {
    const channels = this.req.env.channels;
    if (!Object.hasOwn(channels, channel)) return FALSE;
    const kind = channels[channel];
    const column =
      kind === "email"
        ? "email"
        : kind === "phone"
          ? "phone"
          : kind === "telegram"
            ? "telegram_chat_id"
            : null;
    const contact = column
      ? `(x.${column} IS NOT NULL AND x.${column} <> '')`
      : kind === "none"
        ? "TRUE"
        : FALSE;
    if (contact === FALSE) return FALSE;
    return `(${contact} AND ${this.consent(channel)} <> 'unsubscribed')`;
  }

  field(name: string): SqlValue {
    if (isValueField(name)) {
      this.usesValue = true;
      const t = name === "rfm_group" ? "str" : name.startsWith("rfm_") ? "num" : "float";
      return { sql: `x.tact_v_${name}`, t };
    }
    if (name === "orders") return { sql: "x.orders", t: "num" };
    if (name === "revenue") return { sql: "x.revenue::float8", t: "float" };
    if (name === "aov")
      return { sql: "(CASE WHEN x.orders <> 0 THEN x.revenue::float8 / x.orders::float8 END)", t: "float" };
    const base = DAYS_SINCE_BASE[name];
    if (base) return { sql: this.daysSince(base), t: "num", since: base };
    if (name.endsWith("_at")) return { sql: `x.${name}`, t: "time" };
    return { sql: `x.${name}`, t: "str" };
  }

  daysSince(column: string): string {
    // float8, not numeric: a million rows of numeric arithmetic cost seconds; a double holds epoch milliseconds exactly
    const now = this.p(this.req.now.getTime(), "float8");
    return `floor((${now} - extract(epoch FROM x.${column})::float8 * 1000) / ${DAY_MS})`;
  }

  jsonAt(column: string, path: readonly string[]): SqlValue {
    const p = this.p(path, "text[]");
    return { sql: `(${column} #> ${p})`, t: "json", text: `(${column} #>> ${p})` };
  }

  value(v: ValueExpr, visiting: ReadonlySet<string>, inEvent: boolean): SqlValue {
    if (inEvent && v.kind !== "property") throw new Error(`an aggregate's filter cannot read ${v.kind}`);
    switch (v.kind) {
      case "field":
        return this.field(v.name);
      case "trait":
        return this.jsonAt("x.traits", v.path);
      case "property":
        if (!inEvent) throw new Error("properties.… is only readable inside an aggregate's filter");
        return this.jsonAt("e.properties", v.path);
      case "consent":
        return { sql: this.consent(v.channel), t: "str" };
      case "reachable": {
        const names = v.channel === null ? Object.keys(this.req.env.channels) : [v.channel];
        const parts = names.map((ch) => this.reachable(ch)).filter((s) => s !== FALSE);
        return { sql: parts.length === 0 ? FALSE : `(${parts.join(" OR ")})`, t: "bool" };
      }
      case "stage":
        if (visiting.has("stage")) throw new Error("the stage list refers to the stage");
        this.usesStage = true;
        return { sql: "x.tact_stage", t: "str" };
      case "segment": {
        const def = this.req.env.segments.get(v.name);
        const key = `segment('${v.name}')`;
        if (visiting.has(key)) throw new Error(`the condition refers to itself through ${key}`);
        return { sql: def ? this.bool(def, new Set([...visiting, key]), false) : FALSE, t: "bool" };
      }
      case "aggregate":
        return this.aggregateValue(this.aggregate(v, visiting));
    }
  }

  aggregate(agg: AggregateExpr, visiting: ReadonlySet<string>): Aggregate {
    const key = JSON.stringify(agg, (k, val) =>
      k === "start" || k === "end" || k === "text" ? undefined : val,
    );
    const known = this.aggregates.get(key);
    if (known) return known;
    const sel = agg.selector;
    const selector =
      sel.by === "type"
        ? `e.type = ${this.p(sel.value, "text")}`
        : `e.type = 'track' AND e.name = ${this.p(sel.value, "text")}`;
    const parts = [selector];
    const w = agg.window;
    if (w?.kind === "duration")
      parts.push(`e.occurred_at > ${this.p(new Date(this.req.now.getTime() - w.ms), "timestamptz")}`);
    if (w?.kind === "since_entry") {
      parts.push(this.req.entryAt ? `e.occurred_at >= ${this.p(this.req.entryAt, "timestamptz")}` : FALSE);
    }
    if (agg.filter) parts.push(this.bool(agg.filter, visiting, true));
    const a: Aggregate = {
      i: this.aggregates.size,
      agg,
      match: `(${parts.join(" AND ")})`,
      selector,
      selectorKey: `${sel.by}:${sel.value}`,
      needFirst: false,
    };
    this.aggregates.set(key, a);
    return a;
  }

  aggregateValue(a: Aggregate): SqlValue {
    const col = `x.tact_a${a.i}`;
    switch (a.agg.fn) {
      case "count":
        return { sql: `COALESCE(${col}, 0)`, t: "num" };
      case "sum":
        return { sql: `COALESCE(${col}, 0)`, t: "float" };
      case "last":
        return { sql: col, t: "json" };
      default:
        return { sql: col, t: "float" };
    }
  }

  /** The stage list's parts, once however many conditions read the stage. */
  stageNextParts(out: string[]): void {
    if (this.stagePartsDone) return;
    this.stagePartsDone = true;
    for (const [, cond] of this.req.env.stages) this.nextParts(cond, new Set(["stage"]), out);
  }

  /** The earliest moment each part of a condition can change with time alone (possibly early, never late). */
  nextParts(e: Expr, visiting: ReadonlySet<string>, out: string[]): void {
    switch (e.kind) {
      case "const":
        return;
      case "and":
      case "or":
        this.nextParts(e.left, visiting, out);
        this.nextParts(e.right, visiting, out);
        return;
      case "not":
        this.nextParts(e.operand, visiting, out);
        return;
      default:
        this.atomNext(
          e,
          e.kind === "compare" || e.kind === "in" ? e.left : e.kind === "exists" ? e.operand : e,
          visiting,
          out,
        );
    }
  }

  atomNext(atom: Expr, v: ValueExpr, visiting: ReadonlySet<string>, out: string[]): void {
    if (v.kind === "segment") {
      const def = this.req.env.segments.get(v.name);
      const key = `segment('${v.name}')`;
      if (visiting.has(key)) throw new Error(`the condition refers to itself through ${key}`);
      if (def) this.nextParts(def, new Set([...visiting, key]), out);
    } else if (v.kind === "stage") {
      if (visiting.has("stage")) throw new Error("the stage list refers to the stage");
      this.stageNextParts(out);
    } else if (v.kind === "field" && DAYS_SINCE_BASE[v.name]) {
      const column = DAYS_SINCE_BASE[v.name] ?? "";
      const base = `x.${column}`;
      for (const n of comparedNumbers(atom)) {
        for (const k of daysCandidates(n)) {
          const then = atomAtDays(atom, k);
          const now = this.bool(atom, visiting, false);
          const step = this.p(`${k * 86_400} seconds`, "interval");
          const sooner = this.sinceCompare(column, "<", k) ?? `${this.field(v.name).sql} < ${k}`;
          out.push(`CASE WHEN ${sooner} AND ${now} <> ${then} THEN ${base} + ${step} END`);
        }
      }
    } else if (v.kind === "aggregate" && v.window?.kind === "duration") {
      const a = this.aggregate(v, visiting);
      a.needFirst = true;
      out.push(`x.tact_f${a.i} + ${this.p(`${v.window.ms} milliseconds`, "interval")}`);
    }
  }
}

/** The answer of a days_since comparison when the count of days is k. */
function atomAtDays(atom: Expr, k: number): string {
  const v = { t: "number" as const, v: k };
  const holds =
    atom.kind === "compare"
      ? compareValue(v, atom.op, atom.right)
      : atom.kind === "in" && atom.items.some((item) => compareValue(v, "==", item));
  return holds ? "TRUE" : FALSE;
}

/**
 * An event filter (a goal's or a trigger's `where`) as SQL over `e.properties`, for queries over many events at
 * once. Its bind parameters are numbered after `leading`, the caller's own. Throws when the filter reads anything
 * but the event's properties.
 */
export function compileEventFilter(
  filter: Expr,
  env: ConditionEnv,
  now: Date,
  leading: readonly unknown[],
): { sql: string; values: unknown[] } {
  const c = new Compiler({
    workspaceId: 0,
    now,
    env,
    conditions: [],
    withStage: false,
    withNextChange: false,
  });
  c.values.push(...leading);
  return { sql: c.bool(filter, new Set(), true), values: c.values };
}

export function compileSelection(req: SelectionRequest): { text: string; values: unknown[] } {
  const c = new Compiler(req);
  const none = new Set<string>();
  const ws = c.p(req.workspaceId, "integer");
  const ids = req.customerIds ? c.p(req.customerIds, "bigint[]") : null;
  const conditions = req.conditions.map((e, i) => `${c.bool(e, none, false)} AS c${i}`);
  const next: string[] = [];
  if (req.withNextChange) {
    for (const e of req.conditions) c.nextParts(e, none, next);
    if (req.withStage) c.stageNextParts(next);
  }
  // after the conditions, which tell whether they read the stage
  const stageSql = req.withStage || c.usesStage ? stageCase(c, req.env.stages) : null;
  const ctes = eventCtes(c, ws, ids);
  if (c.usesValue) {
    ctes.joins.push(
      "  LEFT JOIN customer_value v ON v.workspace_id = c.workspace_id AND v.customer_id = c.customer_id",
    );
    ctes.columns.push(...VALUE_FIELDS.map((f) => `v.${f} AS tact_v_${f}`));
  }
  const joins = ctes.joins.join("\n");
  const base = `tact_base AS (
  SELECT c.*${ctes.columns.map((col) => `, ${col}`).join("")}
  FROM customers c
${joins}
  WHERE c.workspace_id = ${ws}${ids ? ` AND c.customer_id = ANY(${ids})` : ""})`;
  const staged = stageSql ? `,\ntact_staged AS (SELECT x.*, ${stageSql} AS tact_stage FROM tact_base x)` : "";
  const select = ["x.customer_id", ...conditions];
  if (req.withStage) select.push("x.tact_stage AS stage");
  if (req.withNextChange)
    select.push(`${next.length ? `LEAST(${next.join(", ")})` : "NULL::timestamptz"} AS next_change`);
  const text = `WITH ${[...ctes.defs, base].join(",\n")}${staged}
SELECT ${select.join(",\n  ")}
FROM ${stageSql ? "tact_staged" : "tact_base"} x`;
  return renumber(text, c.values);
}

/** Drops parameters compiled for parts that folded away (PostgreSQL cannot type a parameter it never sees). */
function renumber(text: string, values: readonly unknown[]): { text: string; values: unknown[] } {
  const used = new Map<number, number>();
  const out: unknown[] = [];
  const renamed = text.replace(/\$(\d+)::/g, (_, n: string) => {
    const old = Number(n);
    let fresh = used.get(old);
    if (fresh === undefined) {
      out.push(values[old - 1]);
      fresh = out.length;
      used.set(old, fresh);
    }
    return `$${fresh}::`;
  });
  return { text: renamed, values: out };
}

function stageCase(c: Compiler, stages: readonly (readonly [string, Expr])[]): string {
  if (stages.length === 0) return "NULL::text";
  const inside = new Set(["stage"]);
  const whens = stages.map(([name, cond]) => `WHEN ${c.bool(cond, inside, false)} THEN ${c.p(name, "text")}`);
  return `(CASE ${whens.join(" ")} END)`;
}

/**
 * One pass over events per selector (count/sum/avg/min/max and first-leave times of every aggregate reading that
 * selector), and one DISTINCT ON pass per `last`. A pass reads only its selector's events and, when every window
 * on it is a duration, only the months inside the longest one: old partitions are never scanned for a 30-day count.
 */
function eventCtes(
  c: Compiler,
  ws: string,
  ids: string | null,
): { defs: string[]; columns: string[]; joins: string[] } {
  const defs: string[] = [];
  const columns: string[] = [];
  const joins: string[] = [];
  const scope = `e.workspace_id = ${ws}${ids ? ` AND e.customer_id = ANY(${ids})` : ""}`;
  const passes = new Map<
    string,
    { selector: string; cols: string[]; matches: string[]; windows: (Window | null)[] }
  >();
  for (const a of c.aggregates.values()) {
    const { i, agg, match } = a;
    const path = agg.path ? c.p(agg.path, "text[]") : null;
    const num = path
      ? `CASE WHEN jsonb_typeof(e.properties #> ${path}) = 'number' THEN (e.properties #> ${path})::numeric END`
      : "NULL";
    const f = `FILTER (WHERE ${match})`;
    const expr =
      agg.fn === "count"
        ? `count(*) ${f}`
        : agg.fn === "avg"
          ? `(sum(${num}) ${f})::float8 / (count(${num}) ${f})::float8`
          : agg.fn === "last"
            ? null
            : `(${agg.fn}(${num}) ${f})::float8`;
    let pass = passes.get(a.selectorKey);
    if (!pass && (expr || a.needFirst)) {
      pass = { selector: a.selector, cols: [], matches: [], windows: [] };
      passes.set(a.selectorKey, pass);
    }
    const alias = `ev${[...passes.keys()].indexOf(a.selectorKey)}`;
    if (expr && pass) {
      pass.cols.push(`${expr} AS tact_a${i}`);
      columns.push(`${alias}.tact_a${i}`);
    } else if (!expr) {
      defs.push(`tact_l${i} AS (
  SELECT DISTINCT ON (e.customer_id) e.customer_id, e.properties #> ${path ?? "'{}'::text[]"} AS v
  FROM events e WHERE ${scope} AND ${match}
  ORDER BY e.customer_id, e.occurred_at DESC, e.message_id COLLATE "C" DESC)`);
      columns.push(`l${i}.v AS tact_a${i}`);
      joins.push(`  LEFT JOIN tact_l${i} l${i} ON l${i}.customer_id = c.customer_id`);
    }
    if (a.needFirst && pass) {
      pass.cols.push(`min(e.occurred_at) ${f} AS tact_f${i}`);
      columns.push(`${alias}.tact_f${i}`);
    }
    if (pass && (expr || a.needFirst)) {
      pass.matches.push(match);
      pass.windows.push(agg.window);
    }
  }
  [...passes.values()].forEach((pass, n) => {
    const bound = pass.windows.every((w) => w?.kind === "duration")
      ? ` AND e.occurred_at > ${c.p(new Date(c.req.now.getTime() - Math.max(...pass.windows.map((w) => (w?.kind === "duration" ? w.ms : 0)))), "timestamptz")}`
      : "";
    defs.push(`tact_ev${n} AS (
  SELECT e.customer_id, ${pass.cols.join(",\n    ")}
  FROM events e
  WHERE ${scope} AND ${pass.selector}${bound} AND (${pass.matches.join(" OR ")})
  GROUP BY e.customer_id)`);
    joins.push(`  LEFT JOIN tact_ev${n} ev${n} ON ev${n}.customer_id = c.customer_id`);
  });
  return { defs, columns, joins };
}
