// Which CSV column feeds which field of a Segment message: explicit `column=field` mappings first, then columns
// recognised by name; and one row turned into an `identify` (customers) or a `track` (events) message with a
// messageId derived from the row's content, so importing the same file again stores nothing twice.
import { createHash } from "node:crypto";
import type { CsvRecord } from "./csv-source.ts";
import {
  parseConsent,
  parseJsonObject,
  parseTimestamp,
  parseTyped,
  quote,
  restoreFormula,
  VALUE_TYPES,
  type ValueType,
} from "./csv-values.ts";
import { isTimeZone, normalizeEmail, normalizePhone } from "./profile.ts";

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
type SingleField = (typeof SINGLE_FIELDS)[number];

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
const CHANNEL_RE = /^[a-z][a-z0-9_]{0,31}$/;
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

interface Column {
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

type RowResult =
  | { ok: true; message: Record<string, unknown>; label: string }
  | { ok: false; reason: string };

/** The converter of plain customer and event files: one row, one message. */
export class MappedConverter implements Converter {
  readonly columns: Record<string, string>;
  readonly ignored: string[];
  readonly signature: string;
  private readonly cols: Column[];
  private readonly width: number;

  constructor(
    header: string[],
    private readonly opts: MappingOptions,
  ) {
    const r = resolveColumns(header, opts);
    this.cols = r.columns;
    this.columns = r.described;
    this.ignored = r.ignored;
    this.width = header.length;
    this.signature = JSON.stringify([opts.kind, opts.eventName ?? null, r.described]);
  }

  push(rec: CsvRecord, ordinal: number, out: ConverterOutput): void {
    const f = rec.fields;
    if (f.every((v) => v.trim() === "")) {
      out.skip("empty row");
      return;
    }
    if (
      f.length < this.width ||
      (f.length > this.width && f.slice(this.width).some((v) => v.trim() !== ""))
    ) {
      out.reject(rec.line, `the row has ${f.length} fields, the header has ${this.width}`);
      return;
    }
    const r = this.opts.kind === "customers" ? this.customer(f) : this.event(f);
    if (!r.ok) {
      out.reject(rec.line, r.reason);
      return;
    }
    out.emit({ message: r.message, label: r.label, line: rec.line, ordinal, rows: 1 });
  }

  end(): void {}

  heldFrom(): number | undefined {
    return undefined;
  }

  private customer(f: string[]): RowResult {
    const traits: Record<string, unknown> = {};
    const consent: Record<string, string> = {};
    const context: Record<string, unknown> = {};
    const ids: Partial<Record<SingleField, string>> = {};
    let explicitTraits: Record<string, unknown> | undefined;
    for (const c of this.cols) {
      const t = c.target;
      const raw = restoreFormula((f[c.index] ?? "").trim());
      if (raw === "" || t.field === "ignore") continue;
      const fail = (reason: string): RowResult => ({ ok: false, reason: `${c.name}: ${reason}` });
      switch (t.field) {
        case "attribute": {
          const v = parseTyped(raw, t.type);
          if (!v.ok) return fail(v.reason);
          traits[t.name] = v.value;
          break;
        }
        case "consent": {
          const v = parseConsent(raw);
          if (!v.ok) return fail(v.reason);
          consent[t.channel] = v.value;
          break;
        }
        case "traits": {
          const v = parseJsonObject(raw);
          if (!v.ok) return fail(v.reason);
          explicitTraits = v.value;
          break;
        }
        case "consents": {
          const v = parseJsonObject(raw);
          if (!v.ok) return fail(v.reason);
          for (const [ch, state] of Object.entries(v.value)) {
            const s =
              typeof state === "object" && state !== null ? (state as { state?: unknown }).state : state;
            const p = typeof s === "string" || typeof s === "boolean" ? parseConsent(String(s)) : undefined;
            if (!p?.ok || !CHANNEL_RE.test(ch))
              return fail(`consent ${quote(ch)} is not a channel with a state`);
            consent[ch] = p.value;
          }
          break;
        }
        default: {
          const problem = this.single(t.field, raw, ids, traits, context);
          if (problem) return fail(problem);
        }
      }
    }
    const merged = { ...explicitTraits, ...traits };
    if (Object.keys(consent).length > 0)
      merged.consent = { ...(merged.consent as object | undefined), ...consent };
    return this.finish(
      "identify",
      ids,
      { traits: merged, ...(Object.keys(context).length ? { context } : {}) },
      f,
    );
  }

  private event(f: string[]): RowResult {
    const properties: Record<string, unknown> = {};
    const ids: Partial<Record<SingleField, string>> = {};
    const unused: Record<string, unknown> = {};
    for (const c of this.cols) {
      const t = c.target;
      const raw = restoreFormula((f[c.index] ?? "").trim());
      if (raw === "" || t.field === "ignore") continue;
      if (t.field === "attribute") {
        const v = parseTyped(raw, t.type);
        if (!v.ok) return { ok: false, reason: `${c.name}: ${v.reason}` };
        properties[t.name] = v.value;
      } else if (t.field !== "traits" && t.field !== "consents" && t.field !== "consent") {
        const problem = this.single(t.field, raw, ids, unused, unused);
        if (problem) return { ok: false, reason: `${c.name}: ${problem}` };
      }
    }
    const name = ids.event ?? this.opts.eventName;
    if (!name) return { ok: false, reason: "the event name is empty" };
    if (!ids.timestamp) return { ok: false, reason: "the timestamp is empty" };
    return this.finish(name, ids, { event: name, properties }, f);
  }

  /** A single-valued field, checked; returns a reason when the value is bad. */
  private single(
    field: SingleField,
    raw: string,
    ids: Partial<Record<SingleField, string>>,
    traits: Record<string, unknown>,
    context: Record<string, unknown>,
  ): string | undefined {
    switch (field) {
      case "userId":
      case "anonymousId":
      case "messageId":
      case "event":
        if (raw.length > 200) return `${quote(raw)} is longer than 200 characters`;
        ids[field] = raw;
        return;
      case "email": {
        const e = normalizeEmail(raw);
        if (!e) return `${quote(raw)} is not an email address`;
        ids.email = e;
        traits.email = e;
        return;
      }
      case "phone": {
        const p = normalizePhone(raw, this.opts.defaultCountry);
        if (!p) {
          const hint = this.opts.defaultCountry
            ? ""
            : " (write it with the country code, or set the workspace's default country)";
          return `${quote(raw)} is not a valid phone number${hint}`;
        }
        ids.phone = p;
        traits.phone = p;
        return;
      }
      case "telegramChatId":
        if (raw.length > 64) return `${quote(raw)} is longer than 64 characters`;
        traits.telegram_chat_id = raw;
        return;
      case "timezone":
        if (!isTimeZone(raw)) return `${quote(raw)} is not an IANA time zone (e.g. Europe/Berlin)`;
        context.timezone = raw;
        return;
      case "locale":
        if (!/^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$/.test(raw) || raw.length > 35) {
          return `${quote(raw)} is not a locale (e.g. en-GB)`;
        }
        context.locale = raw;
        return;
      case "preferredChannel":
        if (!CHANNEL_RE.test(raw)) return `${quote(raw)} is not a channel name`;
        traits.preferred_channel = raw;
        return;
      case "timestamp": {
        const d = parseTimestamp(raw);
        if (!d.ok) return d.reason;
        ids.timestamp = d.value.toISOString();
        return;
      }
    }
  }

  private finish(
    label: string,
    ids: Partial<Record<SingleField, string>>,
    body: Record<string, unknown>,
    fields: string[],
  ): RowResult {
    const userId = ids.userId;
    // Without an id, a stable anonymous id from the contact point: the same address is the same customer.
    const anonymousId =
      ids.anonymousId ??
      (userId ? undefined : ids.email ? `email:${ids.email}` : ids.phone ? `phone:${ids.phone}` : undefined);
    if (!userId && !anonymousId)
      return { ok: false, reason: "no user id, anonymous id, email or phone in this row" };
    const kind = this.opts.kind === "customers" ? "customer" : "event";
    const key = userId ?? anonymousId ?? "";
    // A customer row's id covers the mapping too: re-importing with a corrected mapping applies the correction.
    // An event's does not: the same row is the same event however it is mapped.
    const hash = contentHash(this.opts.kind === "customers" ? this.signature : label, fields);
    const messageId = ids.messageId
      ? importId(["import", kind, label, ids.messageId])
      : importId(["import", kind, key, hash]);
    const message: Record<string, unknown> = {
      type: this.opts.kind === "customers" ? "identify" : "track",
      messageId,
      ...(userId ? { userId } : {}),
      ...(anonymousId ? { anonymousId } : {}),
      ...(ids.timestamp ? { timestamp: ids.timestamp } : {}),
      ...body,
    };
    return { ok: true, message, label };
  }
}

export function contentHash(salt: string, fields: string[]): string {
  return createHash("sha256")
    .update(salt)
    .update("\u001e")
    .update(fields.join("\u001f"))
    .digest("base64url")
    .slice(0, 22);
}

/** A messageId from parts; a long one is replaced by its hash so it stays within 255 characters. */
export function importId(parts: string[]): string {
  const id = parts.join(":");
  return id.length <= 200 ? id : `import:h:${createHash("sha256").update(id).digest("base64url")}`;
}
