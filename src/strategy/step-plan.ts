// A scenario's steps as a map from step id to the step and the id of the step that follows it, so that a stored
// position ("3", "2.if0.1", "4.split1.0") leads to the next step with no interpretation at run time. The last
// step of a branch or split arm is followed by the step after the branch or split.
import type { Scenario, Step } from "./types.ts";

export interface PlannedStep {
  step: Step;
  /** the step that follows when this one is done; null at the end of the scenario */
  next: string | null;
}

export type StepPlan = ReadonlyMap<string, PlannedStep>;

export function planSteps(scenario: Scenario): StepPlan {
  const plan = new Map<string, PlannedStep>();
  const walk = (list: readonly Step[], after: string | null) => {
    list.forEach((step, i) => {
      const next = list[i + 1]?.id ?? after;
      plan.set(step.id, { step, next });
      if (step.kind === "branch") {
        for (const b of step.branches) walk(b.steps, next);
        walk(step.else, next);
      } else if (step.kind === "split") {
        for (const a of step.arms) walk(a.steps, next);
      }
    });
  };
  walk(scenario.steps, null);
  return plan;
}

/** Where a list of steps starts, or where the scenario continues when the list is empty. */
export function firstOf(list: readonly Step[], otherwise: string | null): string | null {
  return list[0]?.id ?? otherwise;
}
