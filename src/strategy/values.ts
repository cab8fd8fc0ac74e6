// Parsers for the small value formats of the strategy document: durations ("2d", "1h30m"), percentages
// ("5%"), times of day ("21:00"), quiet hours ("21:00-09:00") and rates ("200/day"). Each answers with the value
// or the reason it is not one, so the schema and the compiler share one definition.

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Waits run up to two years (SPEC §4); nothing in the document needs a longer span. */
export const MAX_DURATION_MS = 2 * 365 * DAY;

const UNIT_MS: Readonly<Record<string, number>> = {
  s: SECOND,
  m: MINUTE,
  h: HOUR,
  d: DAY,
  w: 7 * DAY,
  y: 365 * DAY,
};

export const DURATION_HINT =
  "a duration such as 30m, 12h, 2d, 1w or 1h30m (units s, m, h, d, w, y; at most 2y)";

export function parseDuration(input: unknown, allowZero = false): Parsed<number> {
  if (typeof input === "number") {
    return { ok: false, message: `a duration needs a unit: write ${input}d, ${input}h or ${input}m` };
  }
  if (typeof input !== "string") return { ok: false, message: `expected ${DURATION_HINT}` };
  const s = input.trim();
  if (s.startsWith("-")) return { ok: false, message: `a duration cannot be negative: '${s}'` };
  if (!/^(\d+[smhdwy])+$/.test(s)) return { ok: false, message: `'${s}' is not ${DURATION_HINT}` };
  let ms = 0;
  for (const m of s.matchAll(/(\d+)([smhdwy])/g)) {
    const unit = UNIT_MS[m[2] ?? ""] ?? 0;
    ms += Number(m[1]) * unit;
  }
  if (!Number.isSafeInteger(ms) || ms > MAX_DURATION_MS) {
    return { ok: false, message: `'${s}' is longer than the longest allowed duration, 2y (730d)` };
  }
  if (ms === 0 && !allowZero) return { ok: false, message: `'${s}' is zero: a duration here must be longer` };
  return { ok: true, value: ms };
}

/** "5%" → 0.05. Plain numbers are refused: 0.05 and 5 would both be plausible readings. */
export function parsePercent(input: unknown): Parsed<number> {
  const hint = "a percentage such as 5% or 12.5%";
  if (typeof input === "number")
    return { ok: false, message: `write ${input}% (${hint}), not a bare number` };
  if (typeof input !== "string") return { ok: false, message: `expected ${hint}` };
  const m = /^(\d+(?:\.\d+)?)\s*%$/.exec(input.trim());
  if (!m) return { ok: false, message: `'${input}' is not ${hint}` };
  const n = Number(m[1]);
  if (n > 100) return { ok: false, message: `'${input}' is more than 100%` };
  return { ok: true, value: n / 100 };
}

/** "09:30" → minutes after midnight. */
export function parseTimeOfDay(input: unknown): Parsed<number> {
  const hint = "a time of day HH:MM, e.g. 09:30";
  if (typeof input !== "string") return { ok: false, message: `expected ${hint} (in quotes)` };
  const m = /^(\d{1,2}):(\d{2})$/.exec(input.trim());
  const h = Number(m?.[1]);
  const min = Number(m?.[2]);
  if (!m || h > 23 || min > 59) return { ok: false, message: `'${input}' is not ${hint}` };
  return { ok: true, value: h * 60 + min };
}

export interface QuietHours {
  /** Minutes after local midnight; start > end means the period crosses midnight. */
  start: number;
  end: number;
}

export function parseQuietHours(input: unknown): Parsed<QuietHours> {
  const hint = 'a local time range "HH:MM-HH:MM", e.g. "21:00-09:00"';
  if (typeof input !== "string") return { ok: false, message: `expected ${hint}` };
  const parts = input.split("-");
  if (parts.length !== 2) return { ok: false, message: `'${input}' is not ${hint}` };
  const start = parseTimeOfDay(parts[0]);
  const end = parseTimeOfDay(parts[1]);
  if (!start.ok || !end.ok) return { ok: false, message: `'${input}' is not ${hint}` };
  if (start.value === end.value) return { ok: false, message: `'${input}' starts and ends at the same time` };
  return { ok: true, value: { start: start.value, end: end.value } };
}

export interface RateLimit {
  count: number;
  perMs: number;
}

const RATE_UNITS: Readonly<Record<string, number>> = {
  s: SECOND,
  sec: SECOND,
  second: SECOND,
  m: MINUTE,
  min: MINUTE,
  minute: MINUTE,
  h: HOUR,
  hour: HOUR,
  d: DAY,
  day: DAY,
  w: 7 * DAY,
  week: 7 * DAY,
};

/** "200/day", "50/s" → a count per span. */
export function parseRate(input: unknown): Parsed<RateLimit> {
  const hint = "a count per unit such as 200/day, 50/s or 1000/h";
  if (typeof input !== "string") return { ok: false, message: `expected ${hint}` };
  const m = /^(\d+)\s*\/\s*([a-z]+)$/.exec(input.trim());
  const perMs = RATE_UNITS[m?.[2] ?? ""];
  const count = Number(m?.[1]);
  if (!m || perMs === undefined) return { ok: false, message: `'${input}' is not ${hint}` };
  if (count < 1 || !Number.isSafeInteger(count))
    return { ok: false, message: `'${input}': the count must be at least 1` };
  return { ok: true, value: { count, perMs } };
}

/** An IANA zone Intl knows, in its canonical spelling. */
export function canonicalTimeZone(input: string): string | null {
  try {
    return new Intl.DateTimeFormat("en", { timeZone: input }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

export function knownTimeZones(): string[] {
  return [...Intl.supportedValuesOf("timeZone"), "UTC"];
}

export function knownCurrencies(): string[] {
  return Intl.supportedValuesOf("currency");
}
