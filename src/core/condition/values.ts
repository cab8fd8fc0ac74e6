// Value rules shared by the in-memory evaluator and the SQL compiler, so both read literals and JSON alike:
// ISO time literals, code-point string order, JSON paths, and exact decimal sums of JSON numbers.

export const DAY_MS = 86_400_000;

/** days_since_… changes more than this many days after its base time are not scheduled (273 years). */
export const MAX_DAYS_AHEAD = 100_000;

/** The whole day counts at which `days_since_x OP n` can change its answer: where floor(n) and floor(n)+1 begin. */
export function daysCandidates(n: number): number[] {
  const k = Math.floor(n);
  return [k, k + 1].filter((x) => Math.abs(x) <= MAX_DAYS_AHEAD);
}

const TIME_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * An ISO date or date-time written in a condition, as epoch milliseconds; null when it is not one.
 * A date alone is midnight UTC; a time without an offset is UTC; fractions finer than a millisecond are dropped.
 */
export function parseTimeLiteral(s: string): number | null {
  const m = TIME_RE.exec(s.trim());
  if (!m) return null;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((x) =>
    Number(x ?? 0),
  );
  const ms = Number((m[7] ?? "").padEnd(3, "0").slice(0, 3));
  if (year === undefined || month === undefined || day === undefined) return null;
  if (month < 1 || month > 12 || day < 1 || (hour ?? 0) > 23 || (minute ?? 0) > 59 || (second ?? 0) > 59)
    return null;
  const t = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  if (new Date(t).getUTCDate() !== day) return null; // 2025-02-30
  let offsetMin = 0;
  const off = m[8];
  if (off && off !== "Z") {
    const digits = off.replace(":", "");
    const sign = digits.startsWith("-") ? -1 : 1;
    offsetMin = sign * (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5)));
  }
  return t - offsetMin * 60_000;
}

/** Orders strings by Unicode code point, as PostgreSQL's "C" collation orders UTF-8 text. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a.charCodeAt(i) !== b.charCodeAt(i)) {
      const ca = a.codePointAt(i) ?? 0;
      const cb = b.codePointAt(i) ?? 0;
      return ca < cb ? -1 : 1;
    }
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** The value at a path of plain-object keys (arrays are not indexed), or undefined when absent. */
export function jsonAt(root: unknown, path: readonly string[]): unknown {
  let v: unknown = root;
  for (const key of path) {
    if (typeof v !== "object" || v === null || Array.isArray(v) || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

function toDecimal(x: number): { m: bigint; e: number } {
  const [mant = "0", exp] = String(x).split("e");
  const [ip = "0", fp = ""] = mant.split(".");
  return { m: BigInt(ip + fp), e: (exp ? Number(exp) : 0) - fp.length };
}

/**
 * The exact decimal sum of numbers (each read as its shortest decimal form, as JSON writes it), rounded once to
 * the nearest double: what PostgreSQL gives for sum(numeric)::float8.
 */
export function decimalSum(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const parts = xs.map(toDecimal);
  const minE = parts.reduce((acc, p) => Math.min(acc, p.e), Number.POSITIVE_INFINITY);
  let total = 0n;
  for (const p of parts) total += p.m * 10n ** BigInt(p.e - minE);
  return Number(`${total}e${minE}`);
}
