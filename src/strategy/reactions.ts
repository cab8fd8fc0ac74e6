// The event names a strategy's scenarios react to: their triggers, the events their steps wait for, and their
// goals. Ingestion copies events with these names to the engine's inbox.
import type { Step, Strategy } from "./types.ts";

const TRIGGER_EVENTS = {
  segment_entered: "segment_entered",
  segment_exited: "segment_exited",
  stage_entered: "stage_changed",
  stage_left: "stage_changed",
} as const;

export function reactedEventNames(strategy: Strategy): Set<string> {
  const names = new Set<string>();
  const walk = (steps: readonly Step[]) => {
    for (const s of steps) {
      if (s.kind === "wait" && s.wait.kind === "event") names.add(s.wait.event);
      else if (s.kind === "branch") {
        for (const b of s.branches) walk(b.steps);
        walk(s.else);
      } else if (s.kind === "split") for (const a of s.arms) walk(a.steps);
    }
  };
  for (const sc of Object.values(strategy.scenarios)) {
    const t = sc.trigger;
    if (t.kind === "event") names.add(t.event);
    else if (t.kind in TRIGGER_EVENTS) names.add(TRIGGER_EVENTS[t.kind as keyof typeof TRIGGER_EVENTS]);
    const goal = strategy.goals[sc.goal];
    if (goal) names.add(goal.event);
    walk(sc.steps);
  }
  return names;
}
