// Power and minimum detectable effect of a two-group comparison, under the normal approximation the z- and
// Welch tests use. The warning tells a marketer that a "no difference" result may only mean "too few customers".
import { normalCdf, normalQuantile } from "./distributions.ts";

export interface PowerOptions {
  /** two-sided significance level, default 0.05 */
  alpha?: number;
  /** power wanted, default 0.8 */
  power?: number;
}

export interface PowerCheck {
  /** smallest absolute difference the groups detect with the wanted power at this size */
  minimumDetectableEffect: number;
  /** power of the test, at this size, against a true difference equal to the observed one */
  powerAtObserved: number;
  underpowered: boolean;
  warning: string | null;
}

const DEFAULT_ALPHA = 0.05;
const DEFAULT_POWER = 0.8;

export function minimumDetectableEffect(standardError: number, options: PowerOptions = {}): number {
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  const power = options.power ?? DEFAULT_POWER;
  return (normalQuantile(1 - alpha / 2) + normalQuantile(power)) * standardError;
}

/** Probability that a two-sided test at level alpha rejects when the true difference is `effect`. */
export function powerAt(effect: number, standardError: number, alpha = DEFAULT_ALPHA): number {
  if (standardError <= 0) return effect === 0 ? alpha : 1;
  const zAlpha = normalQuantile(1 - alpha / 2);
  const shift = Math.abs(effect) / standardError;
  return normalCdf(shift - zAlpha) + normalCdf(-shift - zAlpha);
}

export function powerCheck(observed: number, standardError: number, options: PowerOptions = {}): PowerCheck {
  const power = options.power ?? DEFAULT_POWER;
  const mde = minimumDetectableEffect(standardError, options);
  const achieved = powerAt(observed, standardError, options.alpha ?? DEFAULT_ALPHA);
  const underpowered = achieved < power;
  const percent = Math.round(power * 100);
  return {
    minimumDetectableEffect: mde,
    powerAtObserved: achieved,
    underpowered,
    warning: underpowered
      ? `groups too small to detect the observed effect at ${percent}% power ` +
        `(observed difference ${fmt(observed)}, detectable from ±${fmt(mde)} at this size)`
      : null,
  };
}

/** Customers needed in each of two equal groups to detect `baseline` → `baseline + difference` in a rate. */
export function sampleSizeForProportions(
  baseline: number,
  difference: number,
  options: PowerOptions = {},
): number {
  const p1 = baseline;
  const p2 = baseline + difference;
  if (!(p1 > 0 && p1 < 1 && p2 > 0 && p2 < 1) || difference === 0) return Number.POSITIVE_INFINITY;
  const zA = normalQuantile(1 - (options.alpha ?? DEFAULT_ALPHA) / 2);
  const zB = normalQuantile(options.power ?? DEFAULT_POWER);
  const pBar = (p1 + p2) / 2;
  const root = zA * Math.sqrt(2 * pBar * (1 - pBar)) + zB * Math.sqrt(p1 * (1 - p1) + p2 * (1 - p2));
  return Math.ceil((root * root) / (difference * difference));
}

/** Customers needed in each of two equal groups to detect a difference in means, given the standard deviation. */
export function sampleSizeForMeans(
  standardDeviation: number,
  difference: number,
  options: PowerOptions = {},
): number {
  if (!(standardDeviation > 0) || difference === 0) return Number.POSITIVE_INFINITY;
  const z =
    normalQuantile(1 - (options.alpha ?? DEFAULT_ALPHA) / 2) + normalQuantile(options.power ?? DEFAULT_POWER);
  return Math.ceil((2 * (standardDeviation * z) ** 2) / (difference * difference));
}

function fmt(x: number): string {
  return Number(x.toPrecision(3)).toString();
}
