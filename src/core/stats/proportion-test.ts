// Two-proportion z-test for conversion rates: treatment vs control, with the pooled standard error for the test
// and the unpooled one for the interval (Wald), as textbooks and most A/B tools do.
import { normalQuantile, normalTwoSidedP } from "./distributions.ts";
import { checkConfidence, type EffectResult, relativeInterval, type TestOptions } from "./effect-estimate.ts";
import { checkCount, failure } from "./outcome.ts";
import { powerCheck } from "./power.ts";

export interface ConversionCounts {
  /** customers in the group */
  n: number;
  /** of them, customers who converted */
  conversions: number;
}

function checkGroup(group: ConversionCounts, name: string): string | null {
  const bad = checkCount(group.n, `${name}.n`) ?? checkCount(group.conversions, `${name}.conversions`);
  if (bad) return bad;
  if (group.conversions > group.n)
    return `${name}.conversions (${group.conversions}) exceeds ${name}.n (${group.n})`;
  if (group.n === 0) return `${name} group is empty`;
  return null;
}

export function twoProportionZTest(
  control: ConversionCounts,
  treatment: ConversionCounts,
  options: TestOptions = {},
): EffectResult {
  const bad =
    checkGroup(control, "control") ?? checkGroup(treatment, "treatment") ?? checkConfidence(options);
  if (bad) return failure(bad);
  const alpha = 1 - (options.confidence ?? 0.95);
  const pc = control.conversions / control.n;
  const pt = treatment.conversions / treatment.n;
  const difference = pt - pc;
  const pooled = (control.conversions + treatment.conversions) / (control.n + treatment.n);
  const pooledSe = Math.sqrt(pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n));
  const varC = (pc * (1 - pc)) / control.n;
  const varT = (pt * (1 - pt)) / treatment.n;
  const se = Math.sqrt(varC + varT);
  const critical = normalQuantile(1 - alpha / 2);
  // Identical all-or-nothing groups have no variance: there is no evidence of a difference, so z = 0, p = 1.
  const z = pooledSe > 0 ? difference / pooledSe : 0;
  return {
    ok: true,
    control: pc,
    treatment: pt,
    difference,
    relativeDifference: pc === 0 ? null : pt / pc - 1,
    ci: { lower: difference - critical * se, upper: difference + critical * se },
    relativeCi: relativeInterval(pc, pt, varC, varT, critical),
    pValue: pooledSe > 0 ? normalTwoSidedP(z) : 1,
    statistic: z,
    degreesOfFreedom: Number.POSITIVE_INFINITY,
    standardError: pooledSe,
    power: powerCheck(difference, pooledSe, { alpha, power: options.power ?? 0.8 }),
  };
}
