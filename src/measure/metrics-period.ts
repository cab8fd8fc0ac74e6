// The period of a report from what a user typed: ISO dates or date-times, checked here so that every interface
// (CLI, HTTP) answers the same thing and names the field that is wrong.
import { parseTimestamp } from "../ingest/csv-values.ts";

export interface Period {
  /** inclusive */
  from: Date;
  /** exclusive */
  to: Date;
}

export type PeriodResult = ({ ok: true } & Period) | { ok: false; field: "from" | "to"; message: string };

export const DEFAULT_PERIOD_DAYS = 30;
const DAY = 86_400_000;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * `from` and `to` as given (undefined: not given). A date alone is a whole UTC day: `--to 2026-10-31` includes
 * the 31st. Without `to` the period ends now; without `from` it starts 30 days before its end.
 */
export function parsePeriod(
  input: { from?: string | undefined; to?: string | undefined },
  now: Date,
): PeriodResult {
  let to = now;
  if (input.to !== undefined) {
    const t = parseTimestamp(input.to);
    if (!t.ok) return { ok: false, field: "to", message: t.reason };
    to = DATE_ONLY.test(input.to.trim()) ? new Date(t.value.getTime() + DAY) : t.value;
  }
  let from = new Date(to.getTime() - DEFAULT_PERIOD_DAYS * DAY);
  if (input.from !== undefined) {
    const f = parseTimestamp(input.from);
    if (!f.ok) return { ok: false, field: "from", message: f.reason };
    from = f.value;
  }
  if (from.getTime() >= to.getTime()) {
    // the field the user gave is the one to change: `to` when both (or only `to`) were given
    return {
      ok: false,
      field: input.to !== undefined ? "to" : "from",
      message: `the period ends (${to.toISOString()}) before or when it starts (${from.toISOString()}): to must be after from${input.to === undefined ? " (to is now when not given)" : ""}`,
    };
  }
  return { ok: true, from, to };
}
