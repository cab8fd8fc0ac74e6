// What a condition is evaluated against: one customer's facts and events, and the strategy's environment
// (channels, segment and stage definitions) that names in a condition refer to.
import type { Expr } from "./ast.ts";

/** Which contact point a channel needs: its address must exist for the customer to be reachable on it. */
export type ContactKind = "email" | "phone" | "telegram" | "push" | "none";

/** The customer's address for a contact kind that has one (email, phone, Telegram chat); null for push and none. */
export function contactAddress(
  c: Pick<CustomerFacts, "email" | "phone" | "telegram_chat_id">,
  contact: ContactKind,
): string | null {
  switch (contact) {
    case "email":
      return c.email;
    case "phone":
      return c.phone;
    case "telegram":
      return c.telegram_chat_id;
    default:
      return null;
  }
}

export interface ConditionEnv {
  /** the strategy's channels and the contact point each needs */
  channels: Readonly<Record<string, ContactKind>>;
  /** segment definitions: segment('x') evaluates (and compiles) x's condition in place */
  segments: ReadonlyMap<string, Expr>;
  /** ordered: the first whose condition holds is the customer's stage */
  stages: readonly (readonly [string, Expr])[];
  allowSinceEntry: boolean;
}

export interface CustomerFacts {
  customer_id: string;
  user_id: string | null;
  email: string | null;
  phone: string | null;
  telegram_chat_id: string | null;
  traits: Record<string, unknown>;
  timezone: string | null;
  locale: string | null;
  consents: Record<string, { state: string; at?: string }>;
  preferred_channel: string | null;
  orders: number;
  revenue: number;
  first_order_at: Date | null;
  last_order_at: Date | null;
  first_seen_at: Date | null;
  last_seen_at: Date | null;
  /** the `customer_value` row, when the value models were fitted and the customer has one */
  value?: CustomerValueFacts | null;
}

export interface CustomerValueFacts {
  p_alive: number | null;
  clv: number | null;
  clv_percentile: number | null;
  expected_purchases: number | null;
  expected_value: number | null;
  rfm_r: number | null;
  rfm_f: number | null;
  rfm_m: number | null;
  rfm_group: string | null;
}

export interface SubjectEvent {
  type: string;
  name: string | null;
  occurred_at: Date;
  message_id: string;
  properties: Record<string, unknown>;
}

export interface Subject {
  customer: CustomerFacts;
  events: readonly SubjectEvent[];
  /** when the customer entered the scenario: `since_entry` windows start here */
  entryAt?: Date | null;
}
