// Quiet hours (SPEC §5 rule 5): whether an instant falls into the quiet period in a time zone, and the instant
// that period ends, so a deferred message wakes exactly when the customer's clock leaves it.

import { firstInstantAtWall, localTime } from "../time-zone.ts";
import type { QuietHoursInput } from "./types.ts";

/** Whether a local time of day lies in the period; start is inside it, end is not. */
export function quietAtMinute(quiet: QuietHoursInput, minute: number): boolean {
  return quiet.start < quiet.end
    ? minute >= quiet.start && minute < quiet.end
    : minute >= quiet.start || minute < quiet.end;
}

export function isQuiet(quiet: QuietHoursInput, at: number, zone: string): boolean {
  return quietAtMinute(quiet, localTime(at, zone).minute);
}

/**
 * The first instant after `at` at which the zone's clock has left the quiet period, or null when `at` is not in
 * it. The period that crosses midnight ends on the next local day when `at` is before midnight.
 */
export function quietPeriodEnd(quiet: QuietHoursInput, at: number, zone: string): number | null {
  const local = localTime(at, zone);
  if (!quietAtMinute(quiet, local.minute)) return null;
  const endDay = local.minute < quiet.end ? local.day : local.day + 1;
  // Where clocks go back inside the period the end time happens twice; the one still ahead of `at` counts.
  return firstInstantAtWall(endDay, quiet.end, zone, at + 1);
}
