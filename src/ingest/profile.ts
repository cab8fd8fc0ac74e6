// What one event says about its customer's profile: contact points, consents, preference, time zone, orders.
import { type CountryCode, parsePhoneNumberFromString } from "libphonenumber-js";
import { eventKind } from "../core/event-kind.ts";
import type { IdentityKey } from "../core/identity/resolve.ts";
import { isKnownTimeZone } from "../core/time-zone.ts";
import type { WorkspaceSettingsRow } from "../store/schema.ts";
import type { TrackedEvent } from "./normalize.ts";

export type ConsentState = "opted_in" | "unsubscribed";

export interface ProfileDelta {
  at: Date;
  firstAt: Date;
  traits: Record<string, unknown> | null;
  email: string | null;
  phone: string | null;
  telegramChatId: string | null;
  consents: Record<string, { state: ConsentState; at: string }>;
  preferredChannel: string | null;
  timezone: string | null;
  locale: string | null;
  orders: number;
  revenue: number;
  firstOrderAt: Date | null;
  lastOrderAt: Date | null;
}

const CHANNEL_RE = /^[a-z][a-z0-9_]{0,31}$/;

export function normalizeEmail(v: unknown): string | null {
  if (typeof v !== "string") return null;
  const e = v.trim().toLowerCase();
  return e.length <= 254 && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(e) ? e : null;
}

export function normalizePhone(v: unknown, defaultCountry?: string): string | null {
  if (typeof v !== "string" && typeof v !== "number") return null;
  const s = String(v).trim();
  if (s.length === 0 || s.length > 32) return null;
  const p = parsePhoneNumberFromString(s, (defaultCountry as CountryCode | undefined) ?? undefined);
  return p?.isValid() ? p.number : null;
}

function amount(v: unknown): number | null {
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : Number.NaN;
  return Number.isFinite(n) && Math.abs(n) < 1e13 ? n : null;
}

function consentState(v: unknown): ConsentState | null {
  if (v === true || v === "opted_in" || v === "subscribed" || v === "opt_in") return "opted_in";
  if (v === false || v === "unsubscribed" || v === "opted_out" || v === "opt_out") return "unsubscribed";
  return null;
}

export function isTimeZone(tz: unknown): tz is string {
  return typeof tz === "string" && tz.length <= 64 && isKnownTimeZone(tz);
}

export function profileDelta(e: TrackedEvent, settings: WorkspaceSettingsRow): ProfileDelta {
  const at = e.occurredAt;
  const d: ProfileDelta = {
    at,
    firstAt: at,
    traits: null,
    email: null,
    phone: null,
    telegramChatId: null,
    consents: {},
    preferredChannel: null,
    timezone: null,
    locale: null,
    orders: 0,
    revenue: 0,
    firstOrderAt: null,
    lastOrderAt: null,
  };
  const ctx = e.context;
  if (ctx) {
    if (isTimeZone(ctx.timezone)) d.timezone = ctx.timezone;
    if (typeof ctx.locale === "string" && ctx.locale.length <= 35) d.locale = ctx.locale;
  }
  const t = e.traits;
  if (t) {
    d.traits = t;
    d.email = normalizeEmail(t.email);
    d.phone = normalizePhone(t.phone, settings.default_country);
    const chat = t.telegram_chat_id ?? t.telegramChatId;
    if ((typeof chat === "string" && chat.length <= 64) || typeof chat === "number")
      d.telegramChatId = String(chat);
    if (typeof t.preferred_channel === "string" && CHANNEL_RE.test(t.preferred_channel)) {
      d.preferredChannel = t.preferred_channel;
    }
    const consent = t.consent;
    if (consent && typeof consent === "object" && !Array.isArray(consent)) {
      for (const [channel, v] of Object.entries(consent)) {
        const state = consentState(v);
        if (state && CHANNEL_RE.test(channel)) d.consents[channel] = { state, at: at.toISOString() };
      }
    }
  }
  if (e.type === "track") {
    const kind = eventKind(e.name);
    const p = e.properties;
    if (kind === "order_completed") {
      d.orders = 1;
      d.revenue = amount(p.revenue) ?? amount(p.total) ?? 0;
      d.firstOrderAt = at;
      d.lastOrderAt = at;
    } else if (kind === "order_refunded") {
      d.revenue = -Math.abs(amount(p.revenue) ?? amount(p.total) ?? 0);
    } else if (kind === "unsubscribed" && typeof p.channel === "string" && CHANNEL_RE.test(p.channel)) {
      d.consents[p.channel] = { state: "unsubscribed", at: at.toISOString() };
    }
  }
  return d;
}

export function contactKeys(d: ProfileDelta, settings: WorkspaceSettingsRow): IdentityKey[] {
  const keys: IdentityKey[] = [];
  const on = settings.merge_on ?? [];
  if (d.email && on.includes("email")) keys.push({ kind: "email", value: d.email });
  if (d.phone && on.includes("phone")) keys.push({ kind: "phone", value: d.phone });
  return keys;
}

/** Folds many deltas of one customer into one; newer values win, counts add up. */
export function foldDeltas(a: ProfileDelta, b: ProfileDelta): ProfileDelta {
  const [older, newer] = a.at.getTime() <= b.at.getTime() ? [a, b] : [b, a];
  const consents = { ...older.consents };
  for (const [ch, c] of Object.entries(newer.consents)) consents[ch] = c;
  const minDate = (x: Date | null, y: Date | null) => (x && y ? (x < y ? x : y) : (x ?? y));
  const maxDate = (x: Date | null, y: Date | null) => (x && y ? (x > y ? x : y) : (x ?? y));
  return {
    at: newer.at,
    firstAt: minDate(a.firstAt, b.firstAt) ?? a.firstAt,
    traits: older.traits || newer.traits ? { ...older.traits, ...newer.traits } : null,
    email: newer.email ?? older.email,
    phone: newer.phone ?? older.phone,
    telegramChatId: newer.telegramChatId ?? older.telegramChatId,
    consents,
    preferredChannel: newer.preferredChannel ?? older.preferredChannel,
    timezone: newer.timezone ?? older.timezone,
    locale: newer.locale ?? older.locale,
    orders: a.orders + b.orders,
    revenue: Math.round((a.revenue + b.revenue) * 10_000) / 10_000, // no float noise in money
    firstOrderAt: minDate(a.firstOrderAt, b.firstOrderAt),
    lastOrderAt: maxDate(a.lastOrderAt, b.lastOrderAt),
  };
}
