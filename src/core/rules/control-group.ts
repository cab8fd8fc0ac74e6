// Control groups (SPEC §5 rule 2): the global group first, then the scenario's. The engine may pass either
// answer ready-made (e.g. the arm stored when the customer entered) or what the sticky hash needs to compute it.
import { assignArm, bucketOf, inGlobalControl } from "../experiment/index.ts";
import type { GlobalControlInput, ScenarioControlInput } from "./types.ts";

export function inGlobalControlGroup(customerId: string, input: GlobalControlInput, now: Date): boolean {
  if (typeof input === "boolean") return input;
  return inGlobalControl(customerId, input.periods, now.getTime());
}

export function inScenarioControlGroup(customerId: string, input: ScenarioControlInput): boolean {
  if (typeof input === "boolean") return input;
  if (input.control <= 0) return false;
  const bucket = bucketOf(input.salt, customerId, input.scope);
  const arm = assignArm(bucket, { control: Math.min(1, input.control), variants: { send: 1 } });
  return arm.ok && arm.isControl;
}
