// Which CSV column feeds which field of a Segment message: explicit `column=field` mappings first, then columns
// recognised by name, then the rest as traits (customers) or properties (events). Also the converter interface
// that the plain mapping (csv-rows.ts) and the presets implement.
import type { CsvRecord } from "./csv-source.ts";
import { VALUE_TYPES, type ValueType } from "./csv-values.ts";

export type ImportKind = "customers" | "events";

const SINGLE_FIELDS = [
  "userId",
  "anonymousId",
  "email",
  "phone",
  "telegramChatId",
  "timezone",
  "locale",
  "preferredChannel",
  "timestamp",
  "event",
  "messageId",
] as const;
export type SingleField = (typeof SINGLE_FIELDS)[number];

export type Target =
  | { field: SingleField }
  | { field: "traits" | "consents" | "ignore" }
  | { field: "consent"; channel: string }
  | { field: "attribute"; name: string; type: ValueType };

/** The mapping the user gave is wrong: a usage error. */
export class CsvMappingError extends Error {}

/** One message made of one or more rows, with where it came from. */
export interface Emitted {
  message: Record<string, unknown>;
  /** event name or "identify", for counts */
  label: string;
  line: number;
  /** the ordinal (1-based, data rows only) of its first row */
  ordinal: number;
  rows: number;
}

export interface ConverterOutput {
  emit(e: Emitted): void;
  reject(line: number, reason: string, rows?: number): void;
  skip(reason: string, rows?: number): void;
}

/** Turns data rows into messages; may hold rows back (to group them) until later rows or the end. */
export interface Converter {
  /** column → what it feeds, for the summary */
  readonly columns: Record<string, string>;
  readonly ignored: string[];
  /** identifies the mapping, for the resume key */
  readonly signature: string;
  push(rec: CsvRecord, ordinal: number, out: ConverterOutput): void;
  end(out: ConverterOutput): void;
  /** the smallest ordinal of a row held back and not yet emitted */
  heldFrom(): number | undefined;
}

export interface MappingOptions {
  kind: ImportKind;
  /** column → field, e.g. { "E-mail": "email", "Plan": "trait.plan", "Sum": "property.revenue:number" } */
  map?: Record<string, string> | undefined;
  eventName?: string | undefined;
  defaultCountry?: string | undefined;
}

const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, "");
export const CHANNEL_RE = /^[a-z][a-z0-9_]{0,31}$/;
const EVENT_FIELDS = new Set([
  "userId",
  "anonymousId",
  "email",
  "phone",
  "timestamp",
  "event",
  "messageId",
  "ignore",
]);

const FIELD_BY_NAME: Record<string, SingleField | "traits" | "consents" | "ignore"> = {
  ...Object.fromEntries(SINGLE_FIELDS.map((f) => [norm(f), f])),
  traits: "traits",
  consents: "consents",
  ignore: "ignore",
  skip: "ignore",
};

const ALIASES: Record<ImportKind, [SingleField, string[]][]> = {
  customers: [
    ["userId", ["userid", "customerid", "clientid", "externalid"]],
    ["anonymousId", ["anonymousid", "anonid"]],
    ["email", ["email", "emailaddress", "mail"]],
    ["phone", ["phone", "phonenumber", "mobile", "mobilephone", "cellphone", "tel", "telephone", "msisdn"]],
    ["telegramChatId", ["telegramchatid", "telegramid", "telegram"]],
    ["timezone", ["timezone", "tz"]],
    ["locale", ["locale"]],
    ["preferredChannel", ["preferredchannel"]],
  ],
  events: [
    ["userId", ["userid", "customerid", "clientid", "externalid"]],
    ["anonymousId", ["anonymousid", "anonid"]],
    ["email", ["email", "emailaddress"]],
    ["phone", ["phone", "phonenumber", "mobile"]],
    ["event", ["event", "eventname", "eventtype"]],
    ["timestamp", ["timestamp", "occurredat", "eventtime", "datetime", "time", "date", "createdat"]],
    ["messageId", ["messageid", "eventid"]],
  ],
};

/** Columns of a Tact customer export that are computed from events: not imported back as traits. */
const COMPUTED = new Set([
  "orders",
  "revenue",
  "aov",
  "firstorderat",
  "lastorderat",
  "firstseenat",
  "lastseenat",
]);
const NUMERIC_PROPERTIES = new Set([
  "revenue",
  "total",
  "price",
  "amount",
  "value",
  "quantity",
  "qty",
  "sum",
]);

export function parseTarget(spec: string, kind: ImportKind): Target {
  const s = spec.trim();
  if (s === "-" || s === "") return { field: "ignore" };
  const consent = /^consents?\.(.+)$/i.exec(s);
  if (consent) {
    if (kind !== "customers") throw new CsvMappingError(`'${spec}': consents are imported with customers`);
    const channel = (consent[1] as string).toLowerCase();
    if (!CHANNEL_RE.test(channel)) throw new CsvMappingError(`'${spec}': '${channel}' is not a channel name`);
    return { field: "consent", channel };
  }
  const attr = /^(?:(trait|traits|property|properties|prop)\.)?([^:]+?)(?::([a-z]+))?$/i.exec(s);
  if (!attr) throw new CsvMappingError(`'${spec}' is not a field`);
  const [, prefix, name = "", type] = attr;
  if (!prefix && !type && FIELD_BY_NAME[norm(name)]) {
    const field = FIELD_BY_NAME[norm(name)] as SingleField | "traits" | "consents" | "ignore";
    if ((field === "event" || field === "messageId") && kind !== "events") {
      throw new CsvMappingError(`'${spec}': ${field} is a field of events, not customers`);
    }
    if (kind === "events" && !EVENT_FIELDS.has(field)) {
      throw new CsvMappingError(`'${spec}': ${field} is a field of customers, not events`);
    }
    return { field };
  }
  const p = prefix?.toLowerCase();
  if (p?.startsWith("trait") && kind !== "customers") {
    throw new CsvMappingError(`'${spec}': events have properties, not traits`);
  }
  if (p?.startsWith("prop") && kind !== "events")
    throw new CsvMappingError(`'${spec}': customers have traits, not properties`);
  if (type && !(VALUE_TYPES as readonly string[]).includes(type)) {
    throw new CsvMappingError(`'${spec}': the type '${type}' is not one of ${VALUE_TYPES.join(", ")}`);
  }
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > 100)
    throw new CsvMappingError(`'${spec}': a name of 1-100 characters`);
  return {
    field: "attribute",
    name: trimmed,
    type: (type as ValueType | undefined) ?? defaultType(trimmed, kind),
  };
}

function defaultType(name: string, kind: ImportKind): ValueType {
  return kind === "events" && NUMERIC_PROPERTIES.has(norm(name)) ? "number" : "string";
}

function describe(t: Target): string {
  if (t.field === "consent") return `consent.${t.channel}`;
  if (t.field === "attribute") return t.type === "string" ? t.name : `${t.name}:${t.type}`;
  return t.field;
}

export interface Column {
  index: number;
  name: string;
  target: Target;
}

/** Resolves the header against the explicit mapping and the known names; throws on a missing column. */
export function resolveColumns(
  header: string[],
  opts: MappingOptions,
): { columns: Column[]; ignored: string[]; described: Record<string, string> } {
  const names = header.map((h) => h.trim());
  const seen = new Set<string>();
  for (const n of names) {
    if (n !== "" && seen.has(n)) throw new CsvMappingError(`the header names column '${n}' twice`);
    seen.add(n);
  }
  const findColumn = (col: string) => {
    const exact = names.indexOf(col);
    if (exact >= 0) return exact;
    return names.findIndex((n) => n.toLowerCase() === col.trim().toLowerCase());
  };
  const targets = new Map<number, Target>();
  const taken = new Map<string, string>();
  const take = (index: number, t: Target) => {
    const key = t.field === "attribute" || t.field === "ignore" ? undefined : describe(t);
    if (key) {
      const other = taken.get(key);
      if (other !== undefined) {
        throw new CsvMappingError(`columns '${other}' and '${names[index]}' are both mapped to ${key}`);
      }
      taken.set(key, names[index] as string);
    }
    targets.set(index, t);
  };
  for (const [col, spec] of Object.entries(opts.map ?? {})) {
    const i = findColumn(col);
    if (i < 0)
      throw new CsvMappingError(
        `the mapping names column '${col}', which the file does not have (it has: ${names.join(", ")})`,
      );
    take(i, parseTarget(spec, opts.kind));
  }
  for (const [field, aliases] of ALIASES[opts.kind]) {
    if (taken.has(field)) continue;
    for (const alias of aliases) {
      const i = names.findIndex((n, idx) => !targets.has(idx) && norm(n) === alias);
      if (i >= 0) {
        take(i, { field });
        break;
      }
    }
  }
  const ignored: string[] = [];
  for (const [i, n] of names.entries()) {
    if (targets.has(i)) continue;
    const t = autoTarget(n, opts.kind, taken);
    if (t === "ignored") {
      ignored.push(n);
      targets.set(i, { field: "ignore" });
    } else take(i, t);
  }
  const has = (f: string) => taken.has(f);
  if (!has("userId") && !has("anonymousId") && !has("email") && !has("phone")) {
    throw new MissingColumnError(
      `missing column: the file needs a user id column (user_id, customer_id, …), anonymous_id, email or phone; ` +
        `it has: ${names.join(", ")}. Name one with --map COLUMN=userId`,
    );
  }
  if (opts.kind === "events") {
    if (!has("event") && !opts.eventName) {
      throw new MissingColumnError(
        `missing column 'event' (the event name); it has: ${names.join(", ")}. Name one with --map COLUMN=event or give --event-name`,
      );
    }
    if (!has("timestamp")) {
      throw new MissingColumnError(
        `missing column 'timestamp' (when each event happened); it has: ${names.join(", ")}. Name one with --map COLUMN=timestamp`,
      );
    }
  }
  const columns = [...targets.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([index, target]) => ({ index, name: names[index] as string, target }));
  const described: Record<string, string> = {};
  for (const c of columns) if (c.target.field !== "ignore") described[c.name] = describe(c.target);
  return { columns, ignored, described };
}

/** What a column not named in the mapping and not a known single field feeds. */
function autoTarget(name: string, kind: ImportKind, taken: Map<string, string>): Target | "ignored" {
  if (name === "") return { field: "ignore" };
  if (kind === "customers") {
    const key = norm(name);
    const consent = /^(?:(.+)_consent|consent_(.+))$/.exec(name.toLowerCase().replace(/[\s-]+/g, "_"));
    const channel = consent ? (consent[1] ?? consent[2]) : undefined;
    if (channel && CHANNEL_RE.test(channel) && !taken.has(`consent.${channel}`))
      return { field: "consent", channel };
    if (name === "traits" || name === "consents") return { field: name };
    if (key === "id" && !taken.has("userId")) return { field: "userId" };
    if (key === "id" || COMPUTED.has(key)) return "ignored";
  }
  return { field: "attribute", name, type: defaultType(name, kind) };
}

/** A required column is missing: the file cannot be imported as it is. */
export class MissingColumnError extends Error {}
