// What the membership refresher needs of a strategy: its segments and stages as parsed conditions, the
// environment to evaluate them in, and for each what data it depends on (directly or through the segments and
// stages it refers to), so that new data re-evaluates only the conditions it can change.
import { type ConditionEnv, type ContactKind, conditionDeps, type Expr } from "../core/condition/index.ts";

export interface EffectiveDeps {
  /** 'event:<name>' and 'type:<type>' keys of the events read */
  events: Set<string>;
  /** reads a customer column (attributes, traits, contact points, consents) */
  profile: boolean;
  /** the answer can change with time alone */
  timeDependent: boolean;
  /** how far back events are read; null when some aggregate has no window */
  maxWindowMs: number | null;
  /** some aggregate reads since the scenario entry */
  sinceEntry: boolean;
}

export interface MembershipUnit {
  /** a segment's name, or null for the stage list */
  segment: string | null;
  /** the segment's condition; for the stage list, each stage's condition */
  conditions: Expr[];
  deps: EffectiveDeps;
}

export interface MembershipModel {
  version: number;
  env: ConditionEnv;
  segments: MembershipUnit[];
  stage: MembershipUnit | null;
}

export function buildMembershipModel(
  version: number,
  channels: Readonly<Record<string, ContactKind>>,
  segments: readonly (readonly [string, Expr])[],
  stages: readonly (readonly [string, Expr])[],
): MembershipModel {
  const env: ConditionEnv = {
    channels,
    segments: new Map(segments),
    stages,
    allowSinceEntry: false,
  };
  const direct = new Map<string, ReturnType<typeof conditionDeps>>();
  for (const [name, ast] of segments) direct.set(name, conditionDeps(ast));
  const stageDirect = stages.map(([, ast]) => conditionDeps(ast));

  // Effective dependencies follow segment() and `stage` references; the validator refused cycles.
  const memo = new Map<string, EffectiveDeps>();
  let stageDeps: EffectiveDeps | undefined;
  const resolveDeps = (own: ReturnType<typeof conditionDeps>[], visiting: Set<string>): EffectiveDeps => {
    const out: EffectiveDeps = {
      events: new Set(),
      profile: false,
      timeDependent: false,
      maxWindowMs: 0,
      sinceEntry: false,
    };
    for (const d of own) {
      mergeDeps(out, d);
      for (const s of d.segments) mergeDeps(out, segmentDeps(s, visiting));
      if (d.usesStage) mergeDeps(out, stageUnitDeps(visiting));
    }
    return out;
  };
  const segmentDeps = (name: string, visiting: Set<string>): EffectiveDeps => {
    const known = memo.get(name);
    if (known) return known;
    if (visiting.has(name)) throw new Error(`segment '${name}' refers to itself`);
    const own = direct.get(name);
    if (!own) throw new Error(`unknown segment '${name}'`);
    const deps = resolveDeps([own], new Set([...visiting, name]));
    memo.set(name, deps);
    return deps;
  };
  const stageUnitDeps = (visiting: Set<string>): EffectiveDeps => {
    if (stageDeps) return stageDeps;
    if (visiting.has("")) throw new Error("the stages refer to themselves");
    stageDeps = resolveDeps(stageDirect, new Set([...visiting, ""]));
    return stageDeps;
  };

  return {
    version,
    env,
    segments: segments.map(([name, ast]) => ({
      segment: name,
      conditions: [ast],
      deps: segmentDeps(name, new Set()),
    })),
    stage:
      stages.length > 0
        ? { segment: null, conditions: stages.map(([, ast]) => ast), deps: stageUnitDeps(new Set()) }
        : null,
  };
}

function mergeDeps(
  into: EffectiveDeps,
  d: Pick<EffectiveDeps, "events" | "profile" | "timeDependent" | "maxWindowMs" | "sinceEntry">,
): void {
  for (const e of d.events) into.events.add(e);
  into.profile ||= d.profile;
  into.timeDependent ||= d.timeDependent;
  into.sinceEntry ||= d.sinceEntry;
  into.maxWindowMs =
    into.maxWindowMs === null || d.maxWindowMs === null ? null : Math.max(into.maxWindowMs, d.maxWindowMs);
}

/** Does a change (the keys stored on a due row) concern this unit? */
export function isAffected(unit: MembershipUnit, changes: readonly string[]): boolean {
  for (const c of changes) {
    if (c === "all") return true;
    if (
      c === "time" ? unit.deps.timeDependent : c === "profile" ? unit.deps.profile : unit.deps.events.has(c)
    )
      return true;
  }
  return false;
}

/** What a condition reads, following its segment() and `stage` references through the model. */
export function effectiveDeps(ast: Expr, model: MembershipModel): EffectiveDeps {
  const d = conditionDeps(ast);
  const out: EffectiveDeps = {
    events: new Set(d.events),
    profile: d.profile,
    timeDependent: d.timeDependent,
    maxWindowMs: d.maxWindowMs,
    sinceEntry: d.sinceEntry,
  };
  for (const s of d.segments) {
    const unit = model.segments.find((u) => u.segment === s);
    if (unit) mergeDeps(out, unit.deps);
  }
  if (d.usesStage && model.stage) mergeDeps(out, model.stage.deps);
  return out;
}
