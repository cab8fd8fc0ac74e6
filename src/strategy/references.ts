// Checks what the schema alone cannot: time zone and currency, conditions (parsed and checked against the
// strategy's channels, segments and stages), names that refer to other parts of the document, and segments that
// depend on themselves. Works on the document as parsed, whatever its shape, so one wrong type elsewhere does
// not hide these problems.
import {
  type ContactKind,
  checkCondition,
  conditionDeps,
  type Expr,
  parseCondition,
} from "../core/condition/index.ts";
import { contactOf, isProvider, PROVIDER_KIND } from "./channel-kinds.ts";
import type { Diagnostic } from "./diagnostics.ts";
import type { Path, StrategySource } from "./positions.ts";
import { checkScenarios, checkTemplates } from "./scenario-checks.ts";
import { suggest } from "./suggest.ts";
import type { ChannelKind } from "./types.ts";
import { canonicalTimeZone, knownCurrencies, knownTimeZones } from "./values.ts";

export type Obj = Record<string, unknown>;

export function asObj(v: unknown): Obj | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : undefined;
}

export function pathKey(path: Path): string {
  return JSON.stringify(path);
}

export interface ConditionScope {
  allowSinceEntry: boolean;
  allowStage: boolean;
  /** a filter over one event's properties (the `where` of an event trigger, goal or wait) */
  eventFilter?: boolean;
}

/** The scope of a `where` filter over one event. */
export const EVENT_FILTER: ConditionScope = { allowSinceEntry: false, allowStage: false, eventFilter: true };

/** What the checks share: the names declared in the document and the diagnostics found so far. */
export class ReferenceContext {
  readonly diagnostics: Diagnostic[] = [];
  readonly conditions = new Map<string, { source: string; ast: Expr }>();
  readonly channels = new Map<string, { kind: ChannelKind; contact: ContactKind; provider: string }>();
  readonly goals: string[];
  readonly stages: string[];
  readonly segments: string[];
  readonly templates: string[];

  constructor(
    readonly doc: Obj,
    readonly src: StrategySource,
    readonly file: string,
  ) {
    for (const [name, value] of Object.entries(asObj(doc.channels) ?? {})) {
      const provider = asObj(value)?.provider;
      if (isProvider(provider)) {
        this.channels.set(name, {
          provider,
          kind: PROVIDER_KIND[provider],
          contact: contactOf(provider, asObj(value)?.contact),
        });
      } else {
        this.channels.set(name, { provider: "unknown", kind: "sink", contact: "none" });
      }
    }
    this.goals = Object.keys(asObj(doc.goals) ?? {});
    this.stages = Object.keys(asObj(doc.stages) ?? {});
    this.segments = Object.keys(asObj(doc.segments) ?? {});
    this.templates = Object.keys(asObj(doc.templates) ?? {});
  }

  error(
    path: Path,
    code: string,
    message: string,
    extras: { expected?: string; suggestion?: string | undefined } = {},
    target: "key" | "value" = "value",
  ): void {
    this.diagnostics.push(this.src.at(path, "error", code, message, extras, target));
  }

  warn(path: Path, code: string, message: string): void {
    this.diagnostics.push(this.src.at(path, "warning", code, message));
  }

  /** Reports a name that is not among `known` (of what `kind`), with the closest known one. */
  reference(path: Path, name: unknown, known: readonly string[], kind: string): boolean {
    if (typeof name !== "string") return false;
    if (known.includes(name)) return true;
    const suggestion = suggest(name, known);
    const listed =
      known.length === 0
        ? `no ${kind}s are declared`
        : `declared: ${known.slice(0, 12).join(", ")}${known.length > 12 ? ", …" : ""}`;
    this.error(path, `unknown_${kind.replace(/ /g, "_")}`, `unknown ${kind} '${name}' (${listed})`, {
      suggestion,
    });
    return false;
  }

  /** Parses and checks a condition; the AST is kept for compiling. */
  condition(path: Path, value: unknown, scope: ConditionScope): Expr | undefined {
    if (typeof value !== "string" && typeof value !== "boolean") return undefined;
    const source = String(value);
    const parsed = parseCondition(source, { eventFilter: scope.eventFilter === true });
    if (!parsed.ok) {
      for (const e of parsed.errors) this.#conditionError(path, "condition_syntax", e);
      return undefined;
    }
    const env = {
      channels: Object.fromEntries([...this.channels].map(([n, c]) => [n, c.contact])),
      segmentNames: this.segments,
      stageNames: this.stages,
      allowSinceEntry: scope.allowSinceEntry,
      allowStage: scope.allowStage,
    };
    const problems = checkCondition(parsed.ast, env);
    for (const e of problems) this.#conditionError(path, "condition_invalid", e);
    if (problems.length === 0) this.conditions.set(pathKey(path), { source, ast: parsed.ast });
    return parsed.ast;
  }

  #conditionError(
    path: Path,
    code: string,
    e: { offset: number; length: number; message: string; expected?: string[]; suggestion?: string },
  ): void {
    const extras = { expected: e.expected?.join(", "), suggestion: e.suggestion };
    this.diagnostics.push(this.src.inCondition(path, e.offset, e.length, "error", code, e.message, extras));
  }
}

export function checkReferences(
  value: unknown,
  src: StrategySource,
  file: string,
): { diagnostics: Diagnostic[]; conditions: Map<string, { source: string; ast: Expr }> } {
  const doc = asObj(value);
  if (!doc) return { diagnostics: [], conditions: new Map() };
  const ctx = new ReferenceContext(doc, src, file);
  checkLocale(ctx);
  checkRules(ctx);
  for (const [name, goal] of Object.entries(asObj(doc.goals) ?? {})) {
    const where = asObj(goal)?.where;
    if (where !== undefined) ctx.condition(["goals", name, "where"], where, EVENT_FILTER);
  }
  const segmentDeps = new Map<string, { segments: Set<string>; usesStage: boolean }>();
  const stageSegments = new Map<string, Set<string>>();
  for (const [name, cond] of Object.entries(asObj(doc.stages) ?? {})) {
    const ast = ctx.condition(["stages", name], cond, { allowSinceEntry: false, allowStage: false });
    if (ast) stageSegments.set(name, conditionDeps(ast).segments);
  }
  for (const [name, cond] of Object.entries(asObj(doc.segments) ?? {})) {
    const ast = ctx.condition(["segments", name], cond, { allowSinceEntry: false, allowStage: true });
    if (ast) segmentDeps.set(name, conditionDeps(ast));
  }
  checkCycles(ctx, segmentDeps, stageSegments);
  checkScenarios(ctx);
  checkTemplates(ctx);
  return { diagnostics: ctx.diagnostics, conditions: ctx.conditions };
}

function checkLocale(ctx: ReferenceContext): void {
  const tz = ctx.doc.timezone;
  if (typeof tz === "string" && canonicalTimeZone(tz) === null) {
    ctx.error(["timezone"], "unknown_timezone", `'${tz}' is not an IANA time zone`, {
      expected: "e.g. Europe/Moscow, America/New_York, UTC",
      suggestion: suggest(tz, knownTimeZones()),
    });
  }
  const cur = ctx.doc.currency;
  if (typeof cur === "string" && !knownCurrencies().includes(cur)) {
    const suggestion = suggest(cur.toUpperCase(), knownCurrencies());
    ctx.error(["currency"], "unknown_currency", `'${cur}' is not an ISO 4217 currency code`, {
      expected: "three capital letters, e.g. EUR, USD, RUB",
      suggestion,
    });
  }
}

function checkRules(ctx: ReferenceContext): void {
  const rules = asObj(ctx.doc.rules);
  if (!rules) return;
  const channels = [...ctx.channels.keys()];
  const frequency = Array.isArray(rules.frequency) ? rules.frequency : [];
  frequency.forEach((rule, i) => {
    const list = asObj(rule)?.channels;
    if (!Array.isArray(list)) return;
    list.forEach((c, j) => {
      ctx.reference(["rules", "frequency", i, "channels", j], c, channels, "channel");
    });
  });
  const order = Array.isArray(rules.channel_order) ? rules.channel_order : [];
  const seen = new Set<unknown>();
  order.forEach((c, i) => {
    if (seen.has(c))
      ctx.error(["rules", "channel_order", i], "duplicate_name", `'${String(c)}' is listed twice`);
    seen.add(c);
    ctx.reference(["rules", "channel_order", i], c, channels, "channel");
  });
}

/**
 * A segment may not depend on itself, directly or through other segments or through the stage (a segment that
 * uses `stage` depends on every stage condition, since the stage is the first of them that holds).
 */
function checkCycles(
  ctx: ReferenceContext,
  segmentDeps: ReadonlyMap<string, { segments: Set<string>; usesStage: boolean }>,
  stageSegments: ReadonlyMap<string, Set<string>>,
): void {
  const STAGE = "\u0000stage";
  const edges = (node: string): string[] => {
    if (node === STAGE) return [...new Set([...stageSegments.values()].flatMap((s) => [...s]))];
    const d = segmentDeps.get(node);
    return d ? [...d.segments, ...(d.usesStage ? [STAGE] : [])] : [];
  };
  const reported = new Set<string>();
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, "open");
    stack.push(node);
    for (const next of edges(node)) {
      if (state.get(next) === "open") {
        const cycle = stack.slice(stack.indexOf(next));
        const key = [...cycle].sort().join(",");
        const first = cycle.find((n) => n !== STAGE);
        if (!reported.has(key) && first !== undefined) {
          reported.add(key);
          const rotated = [
            ...cycle.slice(cycle.indexOf(first)),
            ...cycle.slice(0, cycle.indexOf(first)),
            first,
          ];
          const shown = rotated.map((n) => (n === STAGE ? "stage" : n)).join(" → ");
          ctx.error(["segments", first], "segment_cycle", `segment '${first}' depends on itself: ${shown}`);
        }
      } else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const name of segmentDeps.keys()) if (!state.has(name)) visit(name);
}
