// The strategy-wide control group with salt rotation. Each period names the salt and share in force from a moment
// on; the periods are kept forever, so membership at any past moment can be recomputed and old reports stay true.
import { BUCKETS, bucketOf } from "./bucket.ts";

/** Scope under which global-control buckets are drawn, so they are independent of scenario buckets. */
export const GLOBAL_SCOPE = "global-control";

export interface SaltPeriod {
  salt: string;
  /** start of the period, epoch milliseconds */
  from: number;
  /** share of customers in the control group during the period, 0..1 (default 5% in the strategy) */
  fraction: number;
}

export interface ControlMembership {
  period: SaltPeriod;
  /** end of the period (the next one's start), or null while it is current */
  until: number | null;
  inControl: boolean;
}

function sorted(periods: readonly SaltPeriod[]): SaltPeriod[] {
  return [...periods].sort((a, b) => a.from - b.from);
}

/** The period in force at `at`, or null before the first. */
export function periodAt(periods: readonly SaltPeriod[], at: number): SaltPeriod | null {
  let current: SaltPeriod | null = null;
  for (const p of sorted(periods)) {
    if (p.from <= at) current = p;
    else break;
  }
  return current;
}

function member(customerId: string, period: SaltPeriod): boolean {
  return bucketOf(period.salt, customerId, GLOBAL_SCOPE) < Math.round(period.fraction * BUCKETS);
}

/** Whether the customer was (or is) in the global control group at `at` (epoch ms); false before any period. */
export function inGlobalControl(customerId: string, periods: readonly SaltPeriod[], at: number): boolean {
  const period = periodAt(periods, at);
  return period !== null && member(customerId, period);
}

/** The customer's membership in every period, oldest first: the history a report over a long range needs. */
export function globalControlHistory(
  customerId: string,
  periods: readonly SaltPeriod[],
): ControlMembership[] {
  const ordered = sorted(periods);
  return ordered.map((period, i) => ({
    period,
    until: ordered[i + 1]?.from ?? null,
    inControl: member(customerId, period),
  }));
}
