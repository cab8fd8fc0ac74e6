// Carving buckets into a scenario's control group and up to 8 variants. The control takes the lowest buckets and
// the variants share the rest in proportion to their weights, in the order given, so a customer keeps the arm
// while the split is unchanged.
import { BUCKETS } from "./bucket.ts";

export const CONTROL_ARM = "control";
export const MAX_VARIANTS = 8;

export interface ArmSplit {
  /** share of the scenario's customers held out, 0..1 */
  control: number;
  /** variant name → relative weight (> 0); a scenario without an experiment has one variant */
  variants: Readonly<Record<string, number>>;
}

export interface ArmPlan {
  /** exclusive upper bucket of each arm, ascending; the last is always 10 000 */
  bounds: readonly { arm: string; end: number }[];
}

export type ArmPlanResult = { ok: true; plan: ArmPlan } | { ok: false; reason: string };
export type ArmAssignment = { ok: true; arm: string; isControl: boolean } | { ok: false; reason: string };

function checkSplit(split: ArmSplit): string | null {
  if (!(split.control >= 0 && split.control <= 1))
    return `control must be a share between 0 and 1, got ${split.control}`;
  const entries = Object.entries(split.variants);
  if (entries.length > MAX_VARIANTS) return `at most ${MAX_VARIANTS} variants, got ${entries.length}`;
  if (entries.length === 0 && split.control < 1)
    return "at least one variant is needed unless everyone is in control";
  for (const [name, weight] of entries) {
    if (name === CONTROL_ARM) return `"${CONTROL_ARM}" is reserved for the control group`;
    if (!(weight > 0 && Number.isFinite(weight))) return `variant ${name}: weight must be a positive number`;
  }
  return null;
}

/** Checks a split once and turns it into bucket bounds, for assigning many customers. */
export function planArms(split: ArmSplit): ArmPlanResult {
  const bad = checkSplit(split);
  if (bad) return { ok: false, reason: bad };
  const controlEnd = Math.round(split.control * BUCKETS);
  const bounds: { arm: string; end: number }[] = [{ arm: CONTROL_ARM, end: controlEnd }];
  const entries = Object.entries(split.variants);
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  let cumulative = 0;
  for (const [name, weight] of entries) {
    cumulative += weight;
    bounds.push({ arm: name, end: controlEnd + Math.round((cumulative / total) * (BUCKETS - controlEnd)) });
  }
  const last = bounds[bounds.length - 1];
  if (last) last.end = BUCKETS; // rounding must never leave the top buckets without an arm
  return { ok: true, plan: { bounds } };
}

/** The arm of a bucket under a plan. */
export function armOfBucket(bucket: number, plan: ArmPlan): string {
  for (const { arm, end } of plan.bounds) if (bucket < end) return arm;
  return plan.bounds[plan.bounds.length - 1]?.arm ?? CONTROL_ARM;
}

export function assignArm(bucket: number, split: ArmSplit): ArmAssignment {
  if (!Number.isInteger(bucket) || bucket < 0 || bucket >= BUCKETS) {
    return { ok: false, reason: `bucket must be a whole number in 0..${BUCKETS - 1}, got ${bucket}` };
  }
  const planned = planArms(split);
  if (!planned.ok) return planned;
  const arm = armOfBucket(bucket, planned.plan);
  return { ok: true, arm, isControl: arm === CONTROL_ARM };
}
