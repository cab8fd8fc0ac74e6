// Consent and reachability per channel (SPEC §5 rule 3): which of a message's acceptable channels can carry it
// to this customer, and, when none can, whether the missing piece is consent or a working address.
import { contactAddress } from "../condition/subject.ts";
import type {
  ArbiterCustomer,
  ChannelInput,
  CustomerFactsInput,
  RulesInput,
  TraceEntry,
  Undeliverable,
} from "./types.ts";

export type ChannelStatus = { ok: true } | { ok: false; reason: "no_consent" | "unreachable"; why: string };

function present(s: string | null | undefined): boolean {
  return typeof s === "string" && s.trim() !== "";
}

function hasContact(customer: ArbiterCustomer, channel: ChannelInput): boolean {
  if (channel.contact === "push") return customer.pushSubscribed === true;
  if (channel.contact === "none") return true;
  return present(contactAddress(customer.facts, channel.contact));
}

/**
 * The channels whose contact point is an address found not to work (`found`, by contact kind), by channel name:
 * only while the customer's address is still that one.
 */
export function undeliverableChannels(
  facts: CustomerFactsInput,
  found: Readonly<Record<string, { address: string; reason: Undeliverable }>> | null | undefined,
  channels: readonly ChannelInput[],
): Record<string, Undeliverable> | undefined {
  if (!found) return undefined;
  const out: Record<string, Undeliverable> = {};
  for (const c of channels) {
    const bad = found[c.contact];
    if (bad && bad.address === contactAddress(facts, c.contact)) out[c.name] = bad.reason;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The consent state recorded for a channel: under its name, else under its kind; "unknown" when neither. */
export function consentState(customer: ArbiterCustomer, channel: ChannelInput): string {
  const consents = customer.facts.consents;
  const entry = Object.hasOwn(consents, channel.name)
    ? consents[channel.name]
    : Object.hasOwn(consents, channel.kind)
      ? consents[channel.kind]
      : undefined;
  return typeof entry?.state === "string" ? entry.state : "unknown";
}

/**
 * Whether the channel can carry the message. An address that is missing or known not to work makes the channel
 * unreachable whatever the consent says (consent could not help); otherwise a marketing message needs consent
 * under the strategy's mode. Transactional messages need only the address.
 */
export function channelStatus(
  customer: ArbiterCustomer,
  channel: ChannelInput,
  rules: RulesInput,
  transactional: boolean,
): ChannelStatus {
  if (!hasContact(customer, channel)) {
    return { ok: false, reason: "unreachable", why: `no ${channel.contact} contact point` };
  }
  const broken = customer.undeliverable?.[channel.name];
  if (broken !== undefined) {
    return { ok: false, reason: "unreachable", why: `the address is ${broken.replace("_", " ")}` };
  }
  if (transactional) return { ok: true };
  const state = consentState(customer, channel);
  if (state === "unsubscribed") return { ok: false, reason: "no_consent", why: "unsubscribed" };
  if (rules.consent === "opt_in" && state !== "opted_in") {
    return { ok: false, reason: "no_consent", why: `consent is ${state}; the strategy requires opt-in` };
  }
  return { ok: true };
}

export interface ConsentResult {
  usable: ChannelInput[];
  /** When nothing is usable: no_consent if some channel had a working address and lacked only consent. */
  failure: "no_consent" | "unreachable" | null;
}

export function usableChannels(
  customer: ArbiterCustomer,
  candidates: readonly ChannelInput[],
  rules: RulesInput,
  transactional: boolean,
  trace: TraceEntry[],
): ConsentResult {
  const usable: ChannelInput[] = [];
  let consentMissing = false;
  for (const channel of candidates) {
    const status = channelStatus(customer, channel, rules, transactional);
    if (status.ok) {
      usable.push(channel);
      const detail = transactional
        ? "reachable (transactional: no marketing consent needed)"
        : "reachable, consented";
      trace.push({ check: "consent", result: "passed", detail, channel: channel.name });
    } else {
      if (status.reason === "no_consent") consentMissing = true;
      trace.push({
        check: "consent",
        result: "failed",
        detail: `${status.reason}: ${status.why}`,
        channel: channel.name,
      });
    }
  }
  if (usable.length > 0) return { usable, failure: null };
  return { usable, failure: consentMissing ? "no_consent" : "unreachable" };
}
