// Response schemas shared by the reports that compare a treatment with a control: an interval and one test's
// effect (or the reason it could not be computed).
import { z } from "zod";

export const interval = z.object({ lower: z.number(), upper: z.number() });

export const effect = z.union([
  z.object({
    control: z.number(),
    treatment: z.number(),
    difference: z.number(),
    relativeDifference: z.number().nullable(),
    ci: interval,
    relativeCi: interval.nullable(),
    pValue: z.number(),
    statistic: z.number(),
    degreesOfFreedom: z.number().nullable(),
    standardError: z.number(),
    minimumDetectableEffect: z.number(),
    powerAtObserved: z.number(),
    powerWarning: z.string().nullable(),
  }),
  z.object({ error: z.string() }),
]);
