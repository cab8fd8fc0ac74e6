// What a condition reads, so new data re-evaluates only the conditions it can change and time-dependent ones
// get scheduled. Direct dependencies only: a referenced segment's own dependencies are its own.
import { children, DAYS_SINCE_BASE, type Expr, isValueField } from "./ast.ts";

export interface ConditionDeps {
  /** segments referenced by segment('x') */
  segments: Set<string>;
  usesStage: boolean;
  /** 'event:<name>' for track events by name, 'type:<type>' for event types */
  events: Set<string>;
  /** reads any customer column (attributes, traits, consents, reachability) */
  profile: boolean;
  /** reads the customer's fitted value (p_alive, clv_percentile, rfm_group, …) */
  value: boolean;
  /** the answer can change with time alone (a duration window, days_since_…) */
  timeDependent: boolean;
  /** the longest duration window; null when some aggregate reads all time */
  maxWindowMs: number | null;
  /** some aggregate reads since the scenario entry (as far back as the entry, whatever `maxWindowMs` says) */
  sinceEntry: boolean;
}

export function conditionDeps(ast: Expr): ConditionDeps {
  const deps: ConditionDeps = {
    segments: new Set(),
    usesStage: false,
    events: new Set(),
    profile: false,
    value: false,
    timeDependent: false,
    maxWindowMs: 0,
    sinceEntry: false,
  };
  let unbounded = false;
  const visit = (e: Expr): void => {
    switch (e.kind) {
      case "segment":
        deps.segments.add(e.name);
        break;
      case "stage":
        deps.usesStage = true;
        break;
      case "field":
        deps.profile = true;
        if (isValueField(e.name)) deps.value = true;
        if (Object.hasOwn(DAYS_SINCE_BASE, e.name)) deps.timeDependent = true;
        break;
      case "trait":
      case "consent":
      case "reachable":
        deps.profile = true;
        break;
      case "aggregate": {
        deps.events.add(`${e.selector.by === "type" ? "type" : "event"}:${e.selector.value}`);
        if (e.window?.kind === "duration") {
          deps.timeDependent = true;
          deps.maxWindowMs = Math.max(deps.maxWindowMs ?? 0, e.window.ms);
        } else if (e.window?.kind === "since_entry") {
          deps.sinceEntry = true;
        } else {
          unbounded = true;
        }
        break;
      }
      default:
        break;
    }
    for (const c of children(e)) visit(c);
  };
  visit(ast);
  if (unbounded) deps.maxWindowMs = null;
  return deps;
}
