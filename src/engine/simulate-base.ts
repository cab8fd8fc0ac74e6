// The synthetic base of a simulation, cut at the simulation's start: a generator tells each customer's whole
// story up to the simulation's end; what happened before the start is bulk-loaded as history (the profile
// rebuilt from those events alone, as ingestion would have left it), and what happens after it becomes tracking
// messages that the simulation ingests at their virtual times, as the live system would receive them.
import {
  type Batch,
  emptyCustomer,
  type SyntheticCustomer,
  type SyntheticEvent,
} from "../store/bulk-load.ts";

/** An example generator (examples/*\/generate.ts): deterministic for its options. */
export type BaseGenerator = (opts: {
  customers: number;
  seed: number;
  now: Date;
  days: number;
}) => Iterable<Batch>;

/** A tracking message in Segment's format, ready for `ingestMessages`, with its time for ordering. */
export interface FutureEvent {
  at: number;
  message: Record<string, unknown>;
}

/** Splits generated batches at `start`: yields the history batches and collects the later events. */
export function* splitAtStart(
  batches: Iterable<Batch>,
  start: Date,
  future: FutureEvent[],
): Generator<Batch> {
  const startMs = start.getTime();
  for (const batch of batches) {
    const byCustomer = new Map<number, SyntheticEvent[]>();
    for (const e of batch.events) {
      const list = byCustomer.get(e.customerKey);
      if (list) list.push(e);
      else byCustomer.set(e.customerKey, [e]);
    }
    const out: Batch = { customers: [], events: [] };
    for (const customer of batch.customers) {
      const events = byCustomer.get(customer.key) ?? [];
      const cut = events.findIndex((e) => e.occurredAt.getTime() > startMs);
      const past = cut === -1 ? events : events.slice(0, cut);
      const later = cut === -1 ? [] : events.slice(cut);
      if (past.length > 0) {
        out.customers.push(profileAt(customer, past));
        for (const e of past) out.events.push(e);
      }
      const identifiedAt = firstIdentify(events);
      for (const e of later) future.push(toMessage(customer, e, identifiedAt));
    }
    if (out.customers.length > 0) yield out;
  }
}

function firstIdentify(events: readonly SyntheticEvent[]): number {
  const first = events.find((e) => e.type === "identify");
  return first ? first.occurredAt.getTime() : Number.POSITIVE_INFINITY;
}

/**
 * The profile as it stood after `events` (a customer's earliest events, in time order). The generator's row is
 * the profile after every event; its identifiers are known from the start of the story.
 */
export function profileAt(final: SyntheticCustomer, events: readonly SyntheticEvent[]): SyntheticCustomer {
  const row: SyntheticCustomer = { ...emptyCustomer(final.key), anonymousIds: [...final.anonymousIds] };
  for (const e of events) {
    const at = e.occurredAt;
    row.firstSeenAt ??= at;
    row.lastSeenAt = at;
    if (typeof e.context?.timezone === "string") row.timezone = e.context.timezone;
    if (typeof e.context?.locale === "string") row.locale = e.context.locale;
    const p = e.properties;
    if (e.type === "identify") applyTraits(row, final.userId, p, at);
    else if (e.name === "order_completed") {
      row.orders += 1;
      row.revenue += Number(p.revenue ?? 0);
      row.firstOrderAt ??= at;
      row.lastOrderAt = at;
    } else if (e.name === "order_refunded") {
      row.revenue -= Math.abs(Number(p.revenue ?? 0));
    } else if (e.name === "unsubscribed" && typeof p.channel === "string") {
      row.consents[p.channel] = { state: "unsubscribed", at: at.toISOString() };
    }
  }
  return row;
}

function applyTraits(
  row: SyntheticCustomer,
  userId: string | null,
  traits: Record<string, unknown>,
  at: Date,
): void {
  row.userId ??= userId;
  row.traits = { ...row.traits, ...traits };
  row.traitsUpdatedAt = at;
  if (typeof traits.email === "string") row.email = traits.email;
  if (typeof traits.phone === "string") row.phone = traits.phone;
  if (typeof traits.telegram_chat_id === "string") row.telegramChatId = traits.telegram_chat_id;
  if (typeof traits.preferred_channel === "string") row.preferredChannel = traits.preferred_channel;
  const consent = traits.consent;
  if (consent && typeof consent === "object" && !Array.isArray(consent)) {
    for (const [channel, state] of Object.entries(consent)) {
      if (state === "opted_in" || state === "unsubscribed")
        row.consents[channel] = { state, at: at.toISOString() };
    }
  }
}

/**
 * The event as the customer's browser or bot would send it: the anonymous id always, the user id from the
 * first identify on (the story knows its user id from the start; the site learns it at sign-up).
 */
function toMessage(customer: SyntheticCustomer, e: SyntheticEvent, identifiedAt: number): FutureEvent {
  const at = e.occurredAt.getTime();
  const message: Record<string, unknown> = {
    type: e.type,
    messageId: e.messageId,
    timestamp: e.occurredAt.toISOString(),
  };
  const anonymousId = customer.anonymousIds[0];
  if (anonymousId !== undefined) message.anonymousId = anonymousId;
  if (customer.userId !== null && at >= identifiedAt) message.userId = customer.userId;
  if (e.context) message.context = e.context;
  if (e.type === "identify") message.traits = e.properties;
  else {
    if (e.type === "track") message.event = e.name;
    else if (e.name !== null) message.name = e.name;
    message.properties = e.properties;
  }
  return { at, message };
}

/** Generated events in time order; events at the same moment keep the generator's order (a stable sort). */
export function inTimeOrder(future: FutureEvent[]): FutureEvent[] {
  return future.sort((a, b) => a.at - b.at);
}
