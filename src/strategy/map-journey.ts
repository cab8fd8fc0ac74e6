// Where scenarios sit on the customer journey: which stages each scenario serves (read from its trigger and its
// audience condition, following segment references), and the journey order the map draws the stages in.
import type { Expr } from "../core/condition/index.ts";
import type { Scenario, Strategy } from "./types.ts";

/**
 * The stages a condition admits, or null when it does not constrain the stage. Only `stage == 'x'`,
 * `stage != 'x'`, `stage in [...]` and their and/or/not combinations (also inside referenced segments) count.
 */
export function stageSet(
  e: Expr,
  strategy: Strategy,
  seen: ReadonlySet<string> = new Set(),
): Set<string> | null {
  const all = strategy.stages.map((s) => s.name);
  switch (e.kind) {
    case "compare": {
      if (e.left.kind !== "stage" || typeof e.right.value !== "string") return null;
      if (e.op === "==") return new Set([e.right.value]);
      if (e.op === "!=") return new Set(all.filter((s) => s !== e.right.value));
      return null;
    }
    case "in":
      return e.left.kind === "stage" ? new Set(e.items.map((i) => String(i.value))) : null;
    case "and": {
      const l = stageSet(e.left, strategy, seen);
      const r = stageSet(e.right, strategy, seen);
      if (l === null) return r;
      if (r === null) return l;
      return new Set([...l].filter((s) => r.has(s)));
    }
    case "or": {
      const l = stageSet(e.left, strategy, seen);
      const r = stageSet(e.right, strategy, seen);
      return l === null || r === null ? null : new Set([...l, ...r]);
    }
    case "not": {
      const inner = stageSet(e.operand, strategy, seen);
      return inner === null ? null : new Set(all.filter((s) => !inner.has(s)));
    }
    case "segment": {
      const seg = strategy.segments[e.name];
      if (!seg || seen.has(e.name)) return null;
      return stageSet(seg.condition.ast, strategy, new Set([...seen, e.name]));
    }
    default:
      return null;
  }
}

/**
 * The stages a scenario serves: those its trigger enters (`stage_entered`) or that its audience admits, both
 * when both say something. null: the scenario is not tied to a stage (it may reach a customer of any stage).
 */
export function servedStages(strategy: Strategy, scenario: Scenario): string[] | null {
  let set: Set<string> | null = null;
  const t = scenario.trigger;
  if (t.kind === "stage_entered") set = new Set([t.stage]);
  if (t.kind === "stage_left") set = new Set(strategy.stages.map((s) => s.name).filter((s) => s !== t.stage));
  const segment = t.kind === "segment_entered" ? strategy.segments[t.segment] : undefined;
  const fromSegment = segment ? stageSet(segment.condition.ast, strategy) : null;
  for (const extra of [fromSegment, scenario.audience ? stageSet(scenario.audience.ast, strategy) : null]) {
    if (extra === null) continue;
    const prev: Set<string> | null = set;
    set = prev === null ? extra : new Set([...prev].filter((s) => extra.has(s)));
  }
  if (set === null) return null;
  const chosen = set;
  return strategy.stages.map((s) => s.name).filter((s) => chosen.has(s));
}

/** The usual journey from first contact to the most valuable customers, then the stages of decline. */
const JOURNEY_HINTS: readonly (readonly [RegExp, number])[] = [
  [/visitor|anonymous|prospect/, 0],
  [/lead|subscriber|signed/, 1],
  [/first|new_buyer|newcomer|onboard/, 2],
  [/repeat|regular|loyal|active/, 3],
  [/anchor|vip|champion|advocate|top/, 4],
  [/risk|sleeping|cooling/, 5],
  [/lapsed|lost|churn|dormant|inactive/, 6],
];

/**
 * The stages in journey order. The document lists stages first-match-wins (most specific first, so `anchor`
 * comes before `repeat` and `visitor` last); the map reads better as a journey: visitor → lead → first buyer →
 * repeat → anchor, then at risk and lapsed. Stages with a familiar name take their place in that journey; the
 * others follow in the reverse of the document order (the catch-all last stage of the list comes first).
 */
export function journeyOrder(strategy: Strategy): string[] {
  const names = strategy.stages.map((s) => s.name);
  const rank = (name: string, index: number): number => {
    const hint = JOURNEY_HINTS.find(([re]) => re.test(name.toLowerCase()));
    // Unknown names keep the reverse document order, between the journey and the decline stages.
    return hint ? hint[1] * 1000 : 4500 + (names.length - index);
  };
  return names
    .map((name, index) => ({ name, key: rank(name, index), index }))
    .sort((a, b) => a.key - b.key || b.index - a.index)
    .map((x) => x.name);
}
