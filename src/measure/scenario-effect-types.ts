// The shapes of the scenario effect report (src/measure/scenario-effect.ts), kept JSON-serialisable: every number
// is finite, and what cannot be computed is null beside a reason.
import type { EffectComparison, GroupFigures } from "./effect-comparison.ts";
import type { SequentialLook } from "./scenario-winner.ts";

export interface VariantEffect {
  variant: string;
  figures: GroupFigures;
  effect: EffectComparison | null;
}

export interface ExperimentStatus {
  /** what a declared winner does: report, or route new entries to it */
  winnerAction: "report" | "route";
  metric: "proportion" | "mean";
  /** the stored decision of the continuous monitoring (the worker's looks); null before the first look */
  decision: {
    winner: string | null;
    declaredAt: string | null;
    looks: number;
    lastLookAt: string | null;
    statistics: Record<string, unknown> | null;
  } | null;
  /** a look as of the end of the period, over customers whose window has closed, carrying the stored p-values */
  look: SequentialLook | null;
  lookError: string | null;
}

export interface ScenarioEffect {
  scenario: string;
  goal: string;
  goalEvent: string;
  windowDays: number;
  mode: "live" | "pilot";
  /** scenario: its own control arm; global: its entrants in the global control group; null: none to compare with */
  controlSource: "scenario" | "global" | null;
  control: GroupFigures;
  treatment: GroupFigures;
  /** of the treatment, the customers whose goal window had closed by the period's end: what a goal's verdict counts */
  treatmentClosed: GroupFigures;
  effect: EffectComparison | null;
  variants: VariantEffect[];
  experiment: ExperimentStatus | null;
  /** customers whose first entry in the period was made in pilot mode: counted apart, never compared */
  pilot: GroupFigures | null;
  /** entrants held out by the global control group (the scenario's control when it has no arm of its own) */
  globalControl: GroupFigures;
  warnings: string[];
}

export interface StrategyEffect {
  goalEvents: string[];
  windowDays: number;
  treatment: GroupFigures;
  control: GroupFigures;
  effect: EffectComparison | null;
  /** customers whose first entry did not record its global-control membership (entered before it was recorded) */
  unrecorded: number;
  warnings: string[];
}

export interface ScenarioEffectReport {
  from: string | null;
  to: string;
  currency: string | null;
  confidence: number;
  strategy: StrategyEffect | null;
  scenarios: ScenarioEffect[];
  warnings: string[];
}

export interface ScenarioEffectOptions {
  from?: Date;
  to: Date;
  /** a bootstrap 95% interval of each revenue difference (2,000 resamples, seed 1) */
  bootstrap?: boolean;
  /** only this scenario (the strategy part is still computed) */
  scenario?: string;
  /** false: leave out the variant tests' status (a look over every entry to `to`), for the metrics tree */
  experiments?: boolean;
  /**
   * also measure the transactional scenarios (never held out, so with no control to compare with): the metrics
   * tree reads every goal's verdict from this report
   */
  transactional?: boolean;
  /** false: no warning naming the orders in another currency (the metrics tree notes them once, itself) */
  currencyWarning?: boolean;
}

/** Bad input to the report: the option it names is wrong. */
export class ScenarioEffectInputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}
