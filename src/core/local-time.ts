// Wall-clock time in a time zone: the next moment a given local time of day comes round, DST-correct, using the
// platform's time zone database (Intl). An unknown zone falls back to the given default, then UTC.

const formatters = new Map<string, Intl.DateTimeFormat>();

export function isTimeZone(tz: string | null | undefined): tz is string {
  if (!tz) return false;
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: tz,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(tz, f);
  }
  return f;
}

/** The zone to use: the customer's if valid, else the fallback if valid, else UTC. */
export function zoneOf(customerTz: string | null | undefined, fallback?: string | null): string {
  if (isTimeZone(customerTz)) return customerTz;
  if (isTimeZone(fallback)) return fallback;
  return "UTC";
}

/** Offset of the zone from UTC at an instant, in milliseconds (local = utc + offset). */
export function zoneOffset(tz: string, at: number): number {
  const parts = formatter(tz).formatToParts(new Date(at));
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
  const local = Date.UTC(
    get("year"),
    get("month") - 1,
    get("day"),
    get("hour"),
    get("minute"),
    get("second"),
  );
  return local - Math.floor(at / 1000) * 1000;
}

/** Minutes after local midnight at an instant. */
export function localMinuteOfDay(tz: string, at: number): number {
  const local = at + zoneOffset(tz, at);
  return Math.floor((((local % 86_400_000) + 86_400_000) % 86_400_000) / 60_000);
}

/**
 * The first instant strictly after `after` whose local time of day is `minuteOfDay`. On a DST gap (the local
 * time does not exist that day) the instant the clocks jump to is used.
 */
export function nextLocalTime(after: number, minuteOfDay: number, tz: string): number {
  const localNow = after + zoneOffset(tz, after);
  const midnight = localNow - (((localNow % 86_400_000) + 86_400_000) % 86_400_000);
  for (let day = 0; day < 3; day++) {
    const localTarget = midnight + day * 86_400_000 + minuteOfDay * 60_000;
    // Two passes: the offset at the guess, then at the corrected instant (they differ across a DST change).
    let utc = localTarget - zoneOffset(tz, localTarget);
    utc = localTarget - zoneOffset(tz, utc);
    if (utc > after) return utc;
  }
  return after + 86_400_000;
}
