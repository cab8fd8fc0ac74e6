// One row of a mapped customer or event file turned into an `identify` or a `track` message, every value checked,
// with a messageId derived from the row's content, so importing the same file again stores nothing twice.
import { createHash } from "node:crypto";
import {
  CHANNEL_RE,
  type Column,
  type Converter,
  type ConverterOutput,
  type MappingOptions,
  resolveColumns,
  type SingleField,
} from "./csv-mapping.ts";
import type { CsvRecord } from "./csv-source.ts";
import {
  parseConsent,
  parseJsonObject,
  parseTimestamp,
  parseTyped,
  quote,
  restoreFormula,
} from "./csv-values.ts";
import { isTimeZone, normalizeEmail, normalizePhone } from "./profile.ts";

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
