// Experiment assignment: sticky hash buckets, control groups and variants, the rotating global control group.

export {
  type ArmAssignment,
  type ArmPlan,
  type ArmPlanResult,
  type ArmSplit,
  armOfBucket,
  assignArm,
  CONTROL_ARM,
  MAX_VARIANTS,
  planArms,
} from "./arms.ts";
export { BUCKETS, bucketOf } from "./bucket.ts";
export {
  type ControlMembership,
  GLOBAL_SCOPE,
  globalControlHistory,
  inGlobalControl,
  periodAt,
  type SaltPeriod,
} from "./global-control.ts";
