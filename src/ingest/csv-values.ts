// Parsing one CSV cell into a typed value, strictly: a value that is not what its column promises is an error
// naming the value, never a NaN or a guess.
export type ValueType = "string" | "number" | "integer" | "boolean" | "date" | "json";
export const VALUE_TYPES: readonly ValueType[] = ["string", "number", "integer", "boolean", "date", "json"];

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

export function quote(v: string): string {
  return `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
}

export function parseNumber(v: string): Parsed<number> {
  const s = v.trim();
  if (NUMBER_RE.test(s)) {
    const n = Number(s);
    if (Number.isFinite(n) && Math.abs(n) < 1e15) return { ok: true, value: n };
    return { ok: false, reason: `${quote(v)} is out of range` };
  }
  const hint = /^[+-]?\d+,\d+$/.test(s) ? " (use a dot as the decimal separator)" : "";
  return { ok: false, reason: `${quote(v)} is not a number${hint}` };
}

export function parseInteger(v: string): Parsed<number> {
  const n = parseNumber(v);
  if (!n.ok) return n;
  return Number.isSafeInteger(n.value) ? n : { ok: false, reason: `${quote(v)} is not a whole number` };
}

const TRUE = new Set(["true", "yes", "y", "1", "t", "on"]);
const FALSE = new Set(["false", "no", "n", "0", "f", "off"]);

export function parseBoolean(v: string): Parsed<boolean> {
  const s = v.trim().toLowerCase();
  if (TRUE.has(s)) return { ok: true, value: true };
  if (FALSE.has(s)) return { ok: true, value: false };
  return { ok: false, reason: `${quote(v)} is not yes/no/true/false/1/0` };
}

const CONSENT_YES = new Set([...TRUE, "opted_in", "opt_in", "optin", "subscribed", "granted", "allowed"]);
const CONSENT_NO = new Set([
  ...FALSE,
  "unsubscribed",
  "opted_out",
  "opt_out",
  "optout",
  "denied",
  "declined",
]);

export function parseConsent(v: string): Parsed<"opted_in" | "unsubscribed"> {
  const s = v
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, "_");
  if (CONSENT_YES.has(s)) return { ok: true, value: "opted_in" };
  if (CONSENT_NO.has(s)) return { ok: true, value: "unsubscribed" };
  return { ok: false, reason: `${quote(v)} is not a consent (yes/no, opted_in/unsubscribed)` };
}

const DATE_TIME_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/**
 * ISO 8601 dates and date-times (`2024-05-01`, `2024-05-01 13:45`, `2024-05-01T13:45:00.123+03:00`); without an
 * offset the time is UTC. Also Unix time in seconds (10 digits) or milliseconds (13 digits).
 */
export function parseTimestamp(v: string): Parsed<Date> {
  const s = v.trim();
  if (/^\d{10}$/.test(s)) return { ok: true, value: new Date(Number(s) * 1000) };
  if (/^\d{13}$/.test(s)) return { ok: true, value: new Date(Number(s)) };
  const m = DATE_TIME_RE.exec(s);
  const bad: Parsed<Date> = {
    ok: false,
    reason: `${quote(v)} is not a date-time (use ISO 8601, e.g. 2024-05-01 13:45:00, UTC unless an offset is given)`,
  };
  if (!m) return bad;
  const [, y, mo, d, h = "0", mi = "0", sec = "0", frac = "", zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const ms = Number(frac.padEnd(3, "0").slice(0, 3));
  const utc = Date.UTC(year, month - 1, day, Number(h), Number(mi), Number(sec), ms);
  const check = new Date(utc);
  if (
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    Number(h) > 23 ||
    Number(mi) > 59 ||
    Number(sec) > 59
  ) {
    return bad;
  }
  let offsetMin = 0;
  if (zone && zone.toUpperCase() !== "Z") {
    const z = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone);
    if (!z) return bad;
    const hours = Number(z[2]);
    const mins = Number(z[3] ?? "0");
    if (hours > 14 || mins > 59) return bad;
    offsetMin = (z[1] === "-" ? -1 : 1) * (hours * 60 + mins);
  }
  return { ok: true, value: new Date(utc - offsetMin * 60_000) };
}

export function parseJsonObject(v: string): Parsed<Record<string, unknown>> {
  try {
    const x: unknown = JSON.parse(v);
    if (typeof x === "object" && x !== null && !Array.isArray(x))
      return { ok: true, value: x as Record<string, unknown> };
  } catch {
    // reported below
  }
  return { ok: false, reason: `${quote(v)} is not a JSON object` };
}

export function parseTyped(v: string, type: ValueType): Parsed<unknown> {
  switch (type) {
    case "string":
      return { ok: true, value: v };
    case "number":
      return parseNumber(v);
    case "integer":
      return parseInteger(v);
    case "boolean":
      return parseBoolean(v);
    case "date": {
      const d = parseTimestamp(v);
      return d.ok ? { ok: true, value: d.value.toISOString() } : d;
    }
    case "json":
      try {
        return { ok: true, value: JSON.parse(v) as unknown };
      } catch {
        return { ok: false, reason: `${quote(v)} is not JSON` };
      }
  }
}

/** Spreadsheet formula injection: a text cell starting with one of these runs as a formula when opened. */
const FORMULA_START = /^[=+\-@\t\r]/;
/** Plain numbers and phone numbers (`-12.5`, `+7 916 123-45-67`) cannot carry a formula and are left alone. */
const HARMLESS = /^[+-]?[\d(][\d\s().-]*$/;

export function neutraliseFormula(v: string): string {
  return FORMULA_START.test(v) && !HARMLESS.test(v) ? `'${v}` : v;
}

/** The inverse of neutraliseFormula, so an exported file imports back unchanged. */
export function restoreFormula(v: string): string {
  return v.length > 1 && v[0] === "'" && FORMULA_START.test(v.slice(1)) && !HARMLESS.test(v.slice(1))
    ? v.slice(1)
    : v;
}
