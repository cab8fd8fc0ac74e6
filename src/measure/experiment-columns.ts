// Which columns of an experiment file hold the customer, the arm, the start time and the outcomes: named by flags,
// or recognised by name. Also the strict parsing of outcome cells (a flag, a count, a non-negative amount).
import { parseBoolean, parseNumber, parseTimestamp, quote } from "../ingest/csv-values.ts";

/** The mapping the user gave does not fit the file: a usage error. */
export class ExperimentFileError extends Error {}

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, "");

export const CUSTOMER_NAMES = ["customerid", "userid", "customer", "clientid", "externalid"];
export const ARM_NAMES = ["arm", "variant", "group", "treatment"];
export const VISIT_NAMES = ["visit", "visited", "visits"];
export const CONVERSION_NAMES = ["conversion", "converted", "conversions"];
export const SPEND_NAMES = ["spend", "revenue", "spent"];

/**
 * Index of a column: the name given (exactly, or ignoring case), else the first column whose name matches one of
 * the aliases. Returns -1 when nothing matches and no name was given; throws when a given name is absent.
 */
export function findColumn(
  header: readonly string[],
  given: string | undefined,
  aliases: string[],
  flag: string,
) {
  const names = header.map((h) => h.trim());
  if (given !== undefined) {
    const exact = names.indexOf(given);
    const i = exact >= 0 ? exact : names.findIndex((n) => n.toLowerCase() === given.trim().toLowerCase());
    if (i < 0) {
      throw new ExperimentFileError(
        `${flag} '${given}': the file has no such column (it has: ${names.join(", ")})`,
      );
    }
    return i;
  }
  for (const alias of aliases) {
    const i = names.findIndex((n) => norm(n) === alias);
    if (i >= 0) return i;
  }
  return -1;
}

/** 1/0, true/false, yes/no, or a whole count (more than 0 is true). */
export function parseFlag(raw: string): Parsed<boolean> {
  const s = raw.trim();
  if (s === "") return { ok: true, value: false };
  const b = parseBoolean(s);
  if (b.ok) return b;
  const n = parseNumber(s);
  if (n.ok && Number.isInteger(n.value) && n.value >= 0) return { ok: true, value: n.value > 0 };
  return { ok: false, reason: `${quote(raw)} is not 0/1, yes/no, true/false or a count` };
}

/** A finite amount ≥ 0 (blank is 0); currency signs and thousands separators like "$1,000.50" are accepted. */
export function parseSpend(raw: string): Parsed<number> {
  const s = raw.trim().replace(/^[$€£]/, "");
  if (s === "") return { ok: true, value: 0 };
  const plain = /^\d{1,3}(,\d{3})+(\.\d+)?$/.test(s) ? s.replace(/,/g, "") : s;
  const n = parseNumber(plain);
  if (!n.ok) return { ok: false, reason: n.reason.replace(quote(plain), quote(raw)) };
  if (n.value < 0) return { ok: false, reason: `${quote(raw)} is negative (a refund?); spend must be ≥ 0` };
  return n;
}

export function parseStart(raw: string, flag: string): Parsed<Date> {
  const d = parseTimestamp(raw);
  return d.ok ? d : { ok: false, reason: `${flag}: ${d.reason}` };
}
