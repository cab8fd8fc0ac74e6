// What a template can read: `customer` (profile, computed attributes, traits, and every trait as a shortcut, e.g.
// `customer.first_name`), `event` (the event that triggered the scenario), `scenario`, `message` (its id and the
// links made for it) and `strategy`. Absent values are left out rather than set to null, so strict rendering
// refuses them unless the template gives a `| default:`.
import type { CustomerFacts } from "../../core/condition/index.ts";
import { chooseTimeZone } from "../../core/time-zone.ts";
import { RENDER_INFO, type Scope } from "./liquid-engines.ts";

/** Top-level names a template may use; links of the message are also offered at the top level. */
export const TOP_LEVEL_VARIABLES = [
  "customer",
  "event",
  "scenario",
  "message",
  "strategy",
  "unsubscribe_url",
  "confirm_url",
] as const;
const LINKS = ["unsubscribe_url", "confirm_url"] as const;

/** Fields of `customer` that come from the profile, not from traits. */
export const CUSTOMER_FIELDS = [
  "id",
  "user_id",
  "email",
  "phone",
  "telegram_chat_id",
  "timezone",
  "locale",
  "preferred_channel",
  "consents",
  "orders",
  "revenue",
  "average_order_value",
  "first_order_at",
  "last_order_at",
  "first_seen_at",
  "last_seen_at",
  "traits",
  "first_name",
  "last_name",
  "name",
] as const;

export interface TriggerEvent {
  name: string | null;
  type?: string;
  occurred_at?: Date | string;
  properties: Record<string, unknown>;
}

export interface RenderContext {
  customer: CustomerFacts;
  event: TriggerEvent | null;
  scenario: { name: string; context: Record<string, unknown>; entered_at: Date | string } | null;
  /** absent when there is no message (a webhook step's body): `message` is then unknown to the template */
  message?: { id: string; unsubscribe_url?: string; confirm_url?: string } & Record<string, unknown>;
  strategy: { name: string; currency: string; timezone: string };
  /** The time of the render: `'now' | date` shows it (a virtual clock in simulations). */
  now: Date;
}

const iso = (d: Date | string | null | undefined) => (d instanceof Date ? d.toISOString() : (d ?? undefined));

/** Drops null and undefined entries: a missing value must stay missing for strict rendering. */
function present(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));
}

function text(v: unknown): string | undefined {
  return typeof v === "string" && v.trim() !== "" ? v.trim() : undefined;
}

/** first_name / last_name / name from whichever the source sent (Segment uses both spellings). */
function names(traits: Record<string, unknown>): Record<string, unknown> {
  const full = text(traits.name);
  const first = text(traits.first_name) ?? text(traits.firstName) ?? full?.split(/\s+/)[0];
  const last = text(traits.last_name) ?? text(traits.lastName) ?? full?.split(/\s+/).slice(1).join(" ");
  return present({
    first_name: first,
    last_name: last || undefined,
    name: full ?? ([first, last].filter(Boolean).join(" ") || undefined),
  });
}

export function customerVariables(c: CustomerFacts): Record<string, unknown> {
  const traits = present(c.traits ?? {});
  const profile = present({
    id: c.customer_id,
    user_id: c.user_id,
    email: c.email,
    phone: c.phone,
    telegram_chat_id: c.telegram_chat_id,
    timezone: c.timezone,
    locale: c.locale,
    preferred_channel: c.preferred_channel,
    consents: c.consents,
    orders: c.orders,
    revenue: c.revenue,
    average_order_value: c.orders > 0 ? Math.round((c.revenue / c.orders) * 100) / 100 : undefined,
    first_order_at: iso(c.first_order_at),
    last_order_at: iso(c.last_order_at),
    first_seen_at: iso(c.first_seen_at),
    last_seen_at: iso(c.last_seen_at),
    traits,
  });
  // Profile fields win over traits of the same name: they are kept current by Tact itself.
  return { ...traits, ...names(traits), ...profile };
}

function eventVariables(e: TriggerEvent): Record<string, unknown> {
  const own = present({
    name: e.name,
    type: e.type,
    occurred_at: iso(e.occurred_at),
    properties: e.properties,
  });
  return { ...present(e.properties ?? {}), ...own };
}

export function renderScope(ctx: RenderContext): Scope {
  const message = present(ctx.message ?? {});
  const scope: Record<string, unknown> = {
    customer: customerVariables(ctx.customer),
    strategy: { ...ctx.strategy },
  };
  if (ctx.message) scope.message = message;
  if (ctx.event) scope.event = eventVariables(ctx.event);
  if (ctx.scenario) {
    scope.scenario = present({
      name: ctx.scenario.name,
      context: ctx.scenario.context ?? {},
      entered_at: iso(ctx.scenario.entered_at),
    });
  }
  for (const link of LINKS) if (typeof message[link] === "string") scope[link] = message[link];
  const timezone = chooseTimeZone(ctx.customer.timezone ?? null, ctx.strategy.timezone ?? null).zone;
  return Object.assign(scope, {
    [RENDER_INFO]: {
      now: ctx.now,
      timezone,
      currency: ctx.strategy.currency,
      locale: ctx.customer.locale ?? "en",
    },
  });
}
