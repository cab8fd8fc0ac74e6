// What each provider sends (the template body it reads) and which contact point a customer needs for it.
import type { ContactKind } from "../core/condition/index.ts";
import type { ChannelKind, Provider } from "./types.ts";

export const PROVIDER_KIND: Readonly<Record<Provider, ChannelKind>> = {
  smtp: "email",
  smpp: "sms",
  sms_http: "sms",
  telegram: "telegram",
  webpush: "push",
  webhook: "webhook",
  call_center: "call",
  sink: "sink",
};

const PROVIDER_CONTACT: Readonly<Record<Provider, ContactKind>> = {
  smtp: "email",
  smpp: "phone",
  sms_http: "phone",
  telegram: "telegram",
  webpush: "push",
  webhook: "none",
  call_center: "phone",
  sink: "none",
};

export function isProvider(v: unknown): v is Provider {
  return typeof v === "string" && Object.hasOwn(PROVIDER_KIND, v);
}

/** Webhook and sink channels reach no contact point unless the document says which one they stand for. */
export function contactOf(provider: Provider, declared: unknown): ContactKind {
  const fixed = PROVIDER_CONTACT[provider];
  if (fixed !== "none") return fixed;
  return declared === "email" || declared === "phone" || declared === "telegram" || declared === "push"
    ? declared
    : "none";
}
