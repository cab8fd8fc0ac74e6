// Statistics for measurement: distributions, two-group tests, bootstrap, power and the sequential test.
export { type BootstrapOptions, type BootstrapResult, bootstrapMeanDifference } from "./bootstrap.ts";
export {
  chiSquaredSurvival,
  normalCdf,
  normalQuantile,
  normalTwoSidedP,
  studentTCdf,
  studentTQuantile,
  studentTTwoSidedP,
} from "./distributions.ts";
export type { EffectEstimate, EffectResult, Interval, TestOptions } from "./effect-estimate.ts";
export type { Failure } from "./outcome.ts";
export {
  minimumDetectableEffect,
  type PowerCheck,
  type PowerOptions,
  powerAt,
  powerCheck,
  sampleSizeForMeans,
  sampleSizeForProportions,
} from "./power.ts";
export { type ConversionCounts, twoProportionZTest } from "./proportion-test.ts";
export { type RandomSource, randomInt, randomNormal, seededRandom } from "./seeded-random.ts";
export {
  type ArmDecision,
  type ArmTotals,
  MAX_VARIANTS,
  type SequentialArm,
  type SequentialOptions,
  type SequentialResult,
  sequentialTest,
} from "./sequential-test.ts";
export {
  erf,
  erfc,
  logGamma,
  regularizedBeta,
  regularizedGammaP,
  regularizedGammaQ,
} from "./special-functions.ts";
export {
  type SampleSummary,
  type SampleTotals,
  type SummaryResult,
  summarizeSample,
  summaryFromTotals,
  type WelchOptions,
  welchTTest,
} from "./welch-test.ts";
